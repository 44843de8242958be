"""The failure zoo (issue #26) measured: how often `keras_acts.diagnose` names
what is wrong with a broken training run, and how often it cries wolf on a
healthy one.

Each case of benchmarks/zoo_cases.py is run twice on the backend of
KERAS_BACKEND: with `keras_acts.diagnose` (whose flags are scored), and with
a `fit` of as many steps with both monitors attached (warn=True), which gives
the step of the first DiagnosisWarning. Scoring, per case: a kind raised is a
true positive if expected, a false positive if neither expected nor
acceptable; an expected kind not raised is a false negative. Run from the
repository root:

    KERAS_BACKEND=tensorflow python benchmarks/diagnosis_zoo.py
    KERAS_BACKEND=jax python benchmarks/diagnosis_zoo.py --fast
    python benchmarks/diagnosis_zoo.py --cases deep_sigmoid,nan_in_inputs --no-json

and the results go to docs/numbers/diagnosis_zoo-<backend>.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import pathlib
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _cases_module():
    spec = importlib.util.spec_from_file_location(
        "zoo_cases", ROOT / "benchmarks" / "zoo_cases.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("zoo_cases", module)
    spec.loader.exec_module(module)
    return module


zoo_cases = _cases_module()


def _examples(x):
    import keras

    return len(keras.tree.flatten(x)[0])


def _probe(x, y, batch_size):
    import keras

    first = lambda s: keras.tree.map_structure(lambda a: a[:batch_size], s)  # noqa: E731
    return first(x), first(y)


def first_warning_step(model, x, y, steps, batch_size, dense=False):
    """Fits `model` for diagnose's number of steps with both monitors
    (warn=True), at their default schedules, or with `dense` at
    GradientMonitor(freq=1) and an ActivationMonitor probe every tenth of
    the steps; returns (the step of the first DiagnosisWarning or None, the
    step of the first warning of a monitor of any category or None (the
    non-finite ones are RuntimeWarnings), the kinds the monitors flag at the
    end, the steps taken). Step 0 is a warning before the first step (the
    inputs are checked when training begins)."""
    import keras

    import keras_acts

    batches = math.ceil(_examples(x) / batch_size)
    epochs = math.ceil(steps / batches)

    class Steps(keras.callbacks.Callback):
        step = 0

        def on_train_batch_begin(self, batch, logs=None):
            Steps.step += 1

    counter = Steps()
    found = []  # steps of the DiagnosisWarnings
    monitor_warnings = []  # steps of any monitor warning (non-finite included)
    gradient_monitor = keras_acts.GradientMonitor(
        freq=1 if dense else "auto", warn=True
    )
    activation_monitor = keras_acts.ActivationMonitor(
        _probe(x, y, batch_size),
        freq=max(1, steps // 10) if dense else "auto",
        warn=True,
    )

    def show(message, category, *args, **kwargs):
        if issubclass(category, keras_acts.DiagnosisWarning):
            found.append(Steps.step)
        if str(message).startswith(("GradientMonitor:", "ActivationMonitor:")):
            monitor_warnings.append(Steps.step)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        model.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            shuffle=True,
            verbose=0,
            callbacks=[counter, gradient_monitor, activation_monitor],
        )
    flags = gradient_monitor.flags() + activation_monitor.flags()
    return (
        (found[0] if found else None),
        (monitor_warnings[0] if monitor_warnings else None),
        sorted({flag.kind for flag in flags}),
        epochs * batches,
    )


def score(case, raised):
    raised = set(raised)
    tp = raised & case.expected
    fp = raised - case.expected - case.acceptable
    fn = case.expected - raised
    if case.kind == "healthy":
        verdict = "false alarm" if fp else "ok"
    else:
        verdict = "hit" if not fn else ("partial" if tp else "miss")
        if fp:
            verdict += ", false alarm"
    return verdict, sorted(tp), sorted(fp), sorted(fn)


def run_case(case, with_freq1=True, diagnosed=None):
    """`diagnosed`: an earlier result of the case, whose diagnosis is kept
    (only the monitored fits run again)."""
    import keras

    import keras_acts

    keras.utils.set_random_seed(0)
    started = time.perf_counter()
    model, x, y = case.build()
    if diagnosed is not None:
        flags, raised = diagnosed["flags"], diagnosed["raised"]
        total, error = diagnosed["steps"], diagnosed["error"]
    else:
        try:
            diagnosis = keras_acts.diagnose(
                model, x, y, steps=case.steps, batch_size=case.batch_size, verbose=False
            )
            flags = [(flag.kind, flag.layer) for flag in diagnosis.flags]
            raised = sorted({kind for kind, _ in flags})
            total = diagnosis.steps
            error = None
        except Exception as exc:  # a crash is reported, not hidden
            flags, raised, total = [], [], None
            error = f"{type(exc).__name__}: {exc}"
    diagnose_seconds = time.perf_counter() - started
    if diagnosed is not None:
        diagnose_seconds = diagnosed["diagnose_seconds"]
    try:
        keras.utils.set_random_seed(0)
        warned_at, any_warning_at, fit_kinds, fit_steps = first_warning_step(
            model, x, y, case.steps, case.batch_size
        )
    except Exception as exc:
        warned_at, any_warning_at, fit_kinds, fit_steps = None, None, [], None
        error = error or f"fit: {type(exc).__name__}: {exc}"
    # The same fit from the same weights with the dense schedules of the
    # defaults before freq="auto": how much later the defaults warn.
    warned_at_freq1 = None, None
    if with_freq1:
        try:
            keras.utils.set_random_seed(0)
            model, x, y = case.build()
            keras.utils.set_random_seed(0)
            warned_at_freq1 = first_warning_step(
                model, x, y, case.steps, case.batch_size, dense=True
            )[:2]
        except Exception as exc:
            error = error or f"fit, dense: {type(exc).__name__}: {exc}"
    verdict, tp, fp, fn = score(case, raised)
    return {
        "case": case.name,
        "kind": case.kind,
        "expected": sorted(case.expected),
        "acceptable": sorted(case.acceptable),
        "raised": raised,
        "flags": flags,
        "first_warning_step": warned_at,
        "first_monitor_warning_step": any_warning_at,
        "first_warning_step_freq1": warned_at_freq1[0],
        "first_monitor_warning_step_freq1": warned_at_freq1[1],
        "fit_flags": fit_kinds,
        "steps": total if total is not None else fit_steps,
        "verdict": verdict,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "missed_kinds_without_detection": sorted(set(fn) - zoo_cases.existing_kinds()),
        "fast": case.fast,
        "seconds": round(time.perf_counter() - started, 2),
        "diagnose_seconds": round(diagnose_seconds, 2),
        "error": error,
    }


def totals(results):
    tp = sum(len(r["true_positives"]) for r in results)
    fp = sum(len(r["false_positives"]) for r in results)
    fn = sum(len(r["false_negatives"]) for r in results)
    # The same counts over the kinds that have a detection today only.
    fn_existing = sum(
        len(set(r["false_negatives"]) & zoo_cases.existing_kinds()) for r in results
    )
    broken = [r for r in results if r["kind"] == "broken"]
    healthy = [r for r in results if r["kind"] == "healthy"]
    return {
        "cases": len(results),
        "broken": len(broken),
        "healthy": len(healthy),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "recall_existing_kinds": (
            round(tp / (tp + fn_existing), 3) if tp + fn_existing else None
        ),
        "broken_hit": sum(r["verdict"].startswith("hit") for r in broken),
        "broken_partial": sum(r["verdict"].startswith("partial") for r in broken),
        "broken_miss": sum(r["verdict"].startswith("miss") for r in broken),
        "broken_with_false_alarm": sum("false alarm" in r["verdict"] for r in broken),
        "healthy_false_alarm": sum(r["verdict"] == "false alarm" for r in healthy),
        **{
            f"first_warning_in_first_quarter{suffix}": sum(
                r[f"first_monitor_warning_step{suffix}"] is not None
                and r["steps"]
                and r[f"first_monitor_warning_step{suffix}"] <= r["steps"] / 4
                for r in broken
            )
            for suffix in ("", "_freq1")
        },
        "seconds": round(sum(r["seconds"] for r in results), 1),
    }


def table(results):
    def join(kinds):
        return ", ".join(kinds) or "-"

    rows = [
        "| case | expected | flags raised | first warning | first warning, "
        "dense | steps | verdict |",
        "|---|---|---|---|---|---|---|",
    ]

    def warned(r, suffix=""):
        step = r.get("first_warning_step" + suffix)
        other = r.get("first_monitor_warning_step" + suffix)
        if step is None and other is not None:
            step = f"({other}, RuntimeWarning)"
        return "-" if step is None else step

    for r in results:
        rows.append(
            f"| {r['case']} | {join(r['expected'])} | {join(r['raised'])} | "
            f"{warned(r)} | {warned(r, '_freq1')} | {r['steps']} | {r['verdict']}"
            f"{' (error: ' + r['error'] + ')' if r['error'] else ''} |"
        )
    return "\n".join(rows) + "\n"


def provenance():
    """The commit measured, and the package files that differ from it (the
    numbers are those of the working tree)."""
    import subprocess

    def git(*args):
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.rstrip("\n")
        except (OSError, subprocess.CalledProcessError):
            return None

    changed = git("status", "--porcelain", "--", "keras_acts")
    return {
        "commit": (git("rev-parse", "--short", "HEAD") or "").strip() or None,
        "keras_acts_changed": [line[3:] for line in (changed or "").splitlines()],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="the CI subset only")
    parser.add_argument("--cases", help="comma-separated case names")
    parser.add_argument("--json", help="output path (default docs/numbers/...)")
    parser.add_argument("--no-json", action="store_true")
    parser.add_argument(
        "--no-freq1",
        action="store_true",
        help="skip the second monitored fit, at the dense schedules",
    )
    parser.add_argument(
        "--keep-diagnoses",
        action="store_true",
        help="keep the diagnoses of the JSON file written before; run only "
        "the monitored fits again",
    )
    args = parser.parse_args(argv)

    import keras

    cases = zoo_cases.CASES
    if args.fast:
        cases = zoo_cases.fast_cases()
    if args.cases:
        names = args.cases.split(",")
        unknown = [n for n in names if n not in zoo_cases.CASES_BY_NAME]
        if unknown:
            parser.error(f"unknown cases {unknown}")
        cases = [zoo_cases.CASES_BY_NAME[n] for n in names]
    backend = keras.backend.backend()
    path = pathlib.Path(
        args.json or ROOT / "docs" / "numbers" / f"diagnosis_zoo-{backend}.json"
    )
    diagnosed = {}
    if args.keep_diagnoses:
        diagnosed = {r["case"]: r for r in json.loads(path.read_text())["results"]}
    results, skipped = [], []
    for case in cases:
        if not zoo_cases.available(case):
            skipped.append(case.name)
            continue
        result = run_case(
            case, with_freq1=not args.no_freq1, diagnosed=diagnosed.get(case.name)
        )
        results.append(result)
        print(
            f"{case.name}: raised {result['raised']} expected "
            f"{sorted(case.expected)} -> {result['verdict']} "
            f"(first warning at {result['first_warning_step']}, "
            f"at {result['first_warning_step_freq1']} dense, "
            f"{result['seconds']} s)",
            flush=True,
        )
    print()
    print(table(results))
    summary = totals(results)
    print(json.dumps(summary, indent=1))
    if skipped:
        print("skipped (missing packages):", ", ".join(skipped))
    if not args.no_json:
        subset = "fast" if args.fast else ("cases" if args.cases else "full")
        payload = {
            "backend": backend,
            "keras": keras.__version__,
            **provenance(),
            "subset": subset,
            "skipped": skipped,
            "totals": summary,
            "results": results,
        }
        path.write_text(json.dumps(payload, indent=1) + "\n")
        print("wrote", path)


if __name__ == "__main__":
    main()
