"""The `keras-acts` command line.

A module of its own beside the keras_acts package: importing anything inside
the package runs its `__init__`, which imports Keras (and so the backend, with
its log lines) to register the layers for loading saved models. Parsing,
`--help` and `--version` need neither: `main` imports the demo (and so Keras)
only once the arguments are valid.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import re
import sys
from collections.abc import Sequence
from types import ModuleType

DIST_NAME = "keras-acts"
PLOT_FILENAME = "gradient_flow.png"
# keras.utils.set_random_seed seeds numpy, which takes 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1
# The formats matplotlib's Agg backend saves (Figure.savefig by suffix).
PLOT_FORMATS = (
    "png",
    "pdf",
    "svg",
    "svgz",
    "eps",
    "ps",
    "jpg",
    "jpeg",
    "tif",
    "tiff",
    "webp",
    "pgf",
    "raw",
    "rgba",
)


def _package_file(*parts: str) -> pathlib.Path | None:
    """A file of the keras_acts package, found without importing it: importing
    any module inside runs the package's `__init__`, and so Keras."""
    # find_spec locates a top-level package without importing it.
    spec = importlib.util.find_spec("keras_acts")
    if spec is None or spec.origin is None:
        return None
    return pathlib.Path(spec.origin).parent.joinpath(*parts)


def _layer_registry() -> ModuleType:
    """keras_acts/layers/_registry.py, run by its path: plain data, which
    imports nothing."""
    path = _package_file("layers", "_registry.py")
    spec = importlib.util.spec_from_file_location("_keras_acts_registry", path)
    registry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(registry)
    return registry


_REGISTRY = _layer_registry()
# The demo's choices, as keras_acts.demo has them.
DEMO_ACTIVATIONS = _REGISTRY.DEMO_ACTIVATIONS
DEMO_DEFAULT_ACTIVATIONS = _REGISTRY.DEMO_DEFAULT_ACTIVATIONS


def package_version() -> str:
    """keras_acts.__version__, read without importing keras_acts (and Keras).

    The package's own `__init__.py` first, which is current in an editable
    install too; the installed metadata if that file cannot be read.
    """
    path = _package_file("__init__.py")
    text = ""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            pass
    match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    if match:
        return match.group(1)
    from importlib import metadata

    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        return "unknown"


def _parse_activations(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in DEMO_ACTIVATIONS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown activations {unknown or text!r}; choose from "
            f"{', '.join(DEMO_ACTIVATIONS)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        # The same net twice, with the same seed: twice the time, one result.
        raise argparse.ArgumentTypeError(
            f"each activation once: {', '.join(repeated)} appears more than "
            f"once in {text!r}"
        )
    return names


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _seed(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to {MAX_SEED}, got {text}"
        )
    return value


def resolve_plot_path(text: str | os.PathLike) -> pathlib.Path:
    """Where `demo --plot TEXT` writes its figure.

    An existing directory gets `gradient_flow.png` inside it; anything else is
    the file itself, whose folder must exist, with a suffix that matplotlib
    writes (or none, for PNG). Raises `argparse.ArgumentTypeError` (naming the
    path) when it cannot be written, so that a bad path fails before any
    training: the file is opened for appending (and removed again if it did
    not exist), which also catches folders that only look writable, such as
    /proc for root.
    """
    raw = os.fspath(text)
    if not raw:
        raise argparse.ArgumentTypeError("expected a file or directory, got ''")
    path = pathlib.Path(raw).expanduser()
    if path.is_dir():
        return path / PLOT_FILENAME
    if raw.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"no such directory: {raw!r}")
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(
            f"cannot write {raw!r}: its folder {str(folder)!r} does not exist"
        )
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(
            f"cannot write {raw!r}: its folder {str(folder)!r} is not writable"
        )
    suffix = path.suffix.lower().lstrip(".")
    if suffix and suffix not in PLOT_FORMATS:
        raise argparse.ArgumentTypeError(
            f"cannot write {raw!r}: matplotlib writes no .{suffix} files; use "
            f"one of .{', .'.join(PLOT_FORMATS)}"
        )
    _check_writable(path, raw)
    return path


def _check_writable(path: pathlib.Path, raw: str) -> None:
    existed = path.exists()
    if existed and not path.is_file():
        raise argparse.ArgumentTypeError(f"cannot write {raw!r}: not a file")
    try:
        with open(path, "ab"):
            pass
    except OSError as error:
        raise argparse.ArgumentTypeError(
            f"cannot write {raw!r}: {error.strerror or error}"
        ) from None
    if not existed:
        path.unlink(missing_ok=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-acts", description="keras_acts command line tools."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"{DIST_NAME} {package_version()}",
        help="Print the keras-acts version and exit.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="The tool to run."
    )
    demo = commands.add_parser(
        "demo",
        help="Train deep XOR nets with each activation and compare them.",
        description=(
            "Trains a 9-hidden-layer MLP on XOR once per activation and prints "
            "the final loss and accuracy of each, each layer's gradient norm and "
            "each hidden layer's dead and saturated units."
        ),
    )
    demo.add_argument(
        "--steps",
        type=_positive_int,
        default=2000,
        metavar="N",
        help="Full-batch SGD steps per activation, at least 1 (default: 2000).",
    )
    demo.add_argument(
        "--seed",
        type=_seed,
        default=1,
        metavar="SEED",
        help=f"Random seed of the weights, 0 to {MAX_SEED} (default: 1).",
    )
    demo.add_argument(
        "--activations",
        type=_parse_activations,
        default=None,
        metavar="NAMES",
        help=(
            f"Comma-separated activations to train, from "
            f"{', '.join(DEMO_ACTIVATIONS)} (default: "
            f"{', '.join(DEMO_DEFAULT_ACTIVATIONS)})."
        ),
    )
    demo.add_argument(
        "--plot",
        type=resolve_plot_path,
        default=None,
        metavar="PATH",
        help=(
            "Where to write the gradient plot (sigmoid beside relu when both "
            "are trained, else every activation trained): a .png file, "
            f"or an existing directory to write {PLOT_FILENAME} in "
            f"(default: {PLOT_FILENAME}). Needs matplotlib."
        ),
    )
    demo.add_argument(
        "--no-plot", action="store_true", help="Do not write the gradient plot."
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    plot_path = None
    if args.no_plot and args.plot is not None:
        parser.error("argument --plot: not allowed with --no-plot")
    if not args.no_plot:
        try:
            plot_path = args.plot or resolve_plot_path(PLOT_FILENAME)
        except argparse.ArgumentTypeError as error:
            parser.error(f"argument --plot: {error}")
        if args.plot is not None and importlib.util.find_spec("matplotlib") is None:
            # Asked for by name: an error now, not a note after the training.
            parser.error(
                f"argument --plot: writing {str(args.plot)!r} needs matplotlib "
                '(pip install "keras-acts[plot]"), or pass --no-plot'
            )
    # Keras (and its backend) only now that the arguments are valid.
    from keras_acts.demo import run_demo

    run_demo(
        args.activations or DEMO_DEFAULT_ACTIVATIONS,
        steps=args.steps,
        seed=args.seed,
        plot_path=plot_path,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
