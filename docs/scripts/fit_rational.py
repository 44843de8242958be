"""Fits the initial coefficients of `keras_acts.Rational` and writes them to
keras_acts/layers/_rational_coefficients.py.

Each named activation is approximated on [-3, 3], the range of Molina et al.
(2020), by a rational function of degrees (5, 4) in both denominators the
layer supports, by least squares on 6001 evenly spaced points:

- "safe", the paper's Q(x) = 1 + |b_1 x + ... + b_n x^n|: Levenberg-Marquardt
  started from the linearized problem (P(x) - f(x) B(x) = f(x), linear in the
  coefficients);
- "absolute", Q(x) = 1 + |b_1| |x| + ... + |b_n| |x|^n: with b_k >= 0 as
  bounds (Q is smooth in them there), by scipy's trust region reflective
  method from the same start with its negative b_k set to 0.

Leaky ReLU has the paper's slope, 0.01; GELU is the exact one (erf), as
`keras.activations.gelu`'s default. The largest error of each fit on the range,
with the coefficients as written (10 significant digits), goes into the module
too; the docs quote it. A few seconds; needs scipy.

    python docs/scripts/fit_rational.py           # fit and write the module
    python docs/scripts/fit_rational.py --check   # fit and compare, write nothing
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULE = ROOT / "keras_acts" / "layers" / "_rational_coefficients.py"
RANGE = (-3.0, 3.0)
POINTS = 6001
DEGREES = (5, 4)
VARIANTS = ("safe", "absolute")
LEAKY_SLOPE = 0.01
DIGITS = 10
# --check: the largest difference of values on the range accepted.
CHECK_TOLERANCE = 1e-6


def _erf(x):
    from scipy.special import erf

    return erf(x)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


TARGETS = {
    "leaky_relu": lambda x: np.where(x > 0, x, LEAKY_SLOPE * x),
    "relu": lambda x: np.maximum(x, 0.0),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
    "swish": lambda x: x * _sigmoid(x),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
}


def rational(x, numerator, denominator, variant: str):
    """P(x) / Q(x) in float64: `numerator` holds a_0..a_m, `denominator`
    b_1..b_n."""
    x = np.asarray(x, np.float64)
    p = np.polynomial.polynomial.polyval(x, numerator)
    b = np.concatenate([[0.0], denominator])
    if variant == "safe":
        q = 1 + np.abs(np.polynomial.polynomial.polyval(x, b))
    else:
        q = 1 + np.polynomial.polynomial.polyval(np.abs(x), np.abs(b))
    return p / q


def grid() -> np.ndarray:
    return np.linspace(*RANGE, POINTS)


def fit(name: str, variant: str, degrees: tuple[int, int] = DEGREES):
    """(numerator, denominator) fitted to `TARGETS[name]`, rounded to
    `DIGITS` significant digits."""
    from scipy.optimize import least_squares

    m, n = degrees
    x = grid()
    y = TARGETS[name](x)
    powers = np.abs(x) if variant == "absolute" else x
    linear = np.hstack(
        [
            np.vander(x, m + 1, increasing=True),
            -y[:, None] * np.vander(powers, n + 1, increasing=True)[:, 1:],
        ]
    )
    start = np.linalg.lstsq(linear, y, rcond=None)[0]

    def residuals(p):
        return rational(x, p[: m + 1], p[m + 1 :], variant) - y

    tolerances = {"xtol": 1e-15, "ftol": 1e-15, "gtol": 1e-15, "max_nfev": 2000}
    if variant == "safe":
        result = least_squares(residuals, start, method="lm", **tolerances)
    else:
        start[m + 1 :] = np.maximum(start[m + 1 :], 0.0)
        lower = np.concatenate([np.full(m + 1, -np.inf), np.zeros(n)])
        result = least_squares(
            residuals, start, method="trf", bounds=(lower, np.inf), **tolerances
        )
    # -0.0 printed as 0.0.
    coefficients = [float(f"{v:.{DIGITS}g}") + 0.0 for v in result.x]
    return tuple(coefficients[: m + 1]), tuple(coefficients[m + 1 :])


def max_error(name: str, variant: str, numerator, denominator) -> float:
    x = grid()
    values = rational(x, numerator, denominator, variant)
    return float(np.max(np.abs(values - TARGETS[name](x))))


def fit_all() -> tuple[dict, dict]:
    """{variant: {name: (numerator, denominator)}} and {variant: {name: error}}."""
    coefficients, errors = {}, {}
    for variant in VARIANTS:
        coefficients[variant], errors[variant] = {}, {}
        for name in TARGETS:
            numerator, denominator = fit(name, variant)
            coefficients[variant][name] = (numerator, denominator)
            errors[variant][name] = float(
                f"{max_error(name, variant, numerator, denominator):.3g}"
            )
    return coefficients, errors


def largest_difference(shipped: dict, fitted: dict) -> float:
    """The largest difference on the fitting range between the functions of
    two sets of fits (the coefficients themselves may differ in their last
    digits between versions of scipy and numpy)."""
    x = grid()
    return max(
        float(
            np.max(
                np.abs(
                    rational(x, *shipped[variant][name], variant)
                    - rational(x, *fitted[variant][name], variant)
                )
            )
        )
        for variant in fitted
        for name in fitted[variant]
    )


def source(coefficients: dict, errors: dict) -> str:
    lines = [
        '"""Initial coefficients of `keras_acts.Rational`: least-squares fits of',
        "named activations on [-3, 3] by rational functions of degrees (5, 4).",
        "",
        "Written by docs/scripts/fit_rational.py (tests/test_rational.py reruns it",
        'and compares); do not edit by hand."""',
        "",
        f"FIT_RANGE = {RANGE!r}",
        f"DEGREES = {DEGREES!r}",
        "",
        "# variant -> activation -> (numerator a_0..a_5, denominator b_1..b_4)",
        "COEFFICIENTS = {",
    ]
    for variant, fits in coefficients.items():
        lines.append(f'    "{variant}": {{')
        for name, (numerator, denominator) in fits.items():
            lines.append(f'        "{name}": (')
            for values in (numerator, denominator):
                lines.append("            (")
                lines.extend(f"                {v!r}," for v in values)
                lines.append("            ),")
            lines.append("        ),")
        lines.append("    },")
    lines.append("}")
    lines.append("")
    lines.append("# variant -> activation -> largest |fit - activation| on FIT_RANGE")
    lines.append("MAX_ERRORS = {")
    for variant, values in errors.items():
        lines.append(f'    "{variant}": {{')
        lines.extend(f'        "{name}": {error!r},' for name, error in values.items())
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare the fits with the module instead of writing it",
    )
    arguments = parser.parse_args(argv)
    coefficients, errors = fit_all()
    for variant in VARIANTS:
        for name, error in errors[variant].items():
            print(f"{variant:<9} {name:<11} max error on {list(RANGE)}: {error:.3g}")
    text = source(coefficients, errors)
    if arguments.check:
        import runpy

        # Read as a file: importing keras_acts would import a backend.
        shipped = runpy.run_path(str(MODULE))["COEFFICIENTS"]
        difference = largest_difference(shipped, coefficients)
        print(f"largest difference from the shipped fits: {difference:.3g}")
        if difference > CHECK_TOLERANCE:
            sys.exit(f"{MODULE.relative_to(ROOT)} differs from the fits")
        return
    MODULE.write_text(text)
    print(f"wrote {MODULE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
