"""Regenerates the figures of the docs site from the package's own code.

python docs/scripts/make_figures.py            # all figures
python docs/scripts/make_figures.py gradient_flow
"""

from __future__ import annotations

import pathlib
import sys

IMAGES = pathlib.Path(__file__).resolve().parents[1] / "images"


def gradient_flow() -> None:
    from keras_acts.demo import run_demo

    run_demo(
        ["sigmoid", "relu"],
        steps=2000,
        seed=1,
        plot_path=IMAGES / "gradient_flow.png",
        print_fn=lambda line: None,
    )


FIGURES = {"gradient_flow": gradient_flow}


def main(names: list[str]) -> None:
    IMAGES.mkdir(exist_ok=True)
    for name in names or list(FIGURES):
        FIGURES[name]()
        print(f"wrote the {name} figure")


if __name__ == "__main__":
    main(sys.argv[1:])
