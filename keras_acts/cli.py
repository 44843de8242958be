"""The `keras-acts` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parse_activations(text: str) -> list[str]:
    from keras_acts.demo import ACTIVATIONS

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ACTIVATIONS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown activations {unknown or text!r}; choose from "
            f"{', '.join(ACTIVATIONS)}"
        )
    return names


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-acts", description="keras_acts command line tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="Train deep XOR nets with each activation and compare them.",
        description=(
            "Trains a 9-hidden-layer MLP on XOR once per activation and prints "
            "the final loss and accuracy of each."
        ),
    )
    demo.add_argument("--steps", type=_positive_int, default=2000)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--activations",
        type=_parse_activations,
        default=None,
        help="Comma-separated names (default: all).",
    )
    demo.add_argument(
        "--plot",
        default="gradient_flow.png",
        help="Where to write the sigmoid-versus-relu gradient plot "
        "(default: gradient_flow.png).",
    )
    demo.add_argument(
        "--no-plot", action="store_true", help="Do not write the gradient plot."
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from keras_acts.demo import ACTIVATIONS, run_demo

    run_demo(
        args.activations or ACTIVATIONS,
        steps=args.steps,
        seed=args.seed,
        plot_path=None if args.no_plot else args.plot,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
