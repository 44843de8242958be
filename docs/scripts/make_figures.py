"""Regenerates the figures of the docs site from the package's own code.

Every figure is an SVG with its text as outlines (no font needed to view it),
on a transparent background, in English and Korean, each in a light and a
dark variant for Material's two colour schemes:

    docs/images/<name>.svg         docs/images/<name>-dark.svg
    docs/images/ko/<name>.svg      docs/images/ko/<name>-dark.svg

A page shows the pair as
`![...](../images/<name>.svg#only-light)` and
`![...](../images/<name>-dark.svg#only-dark)`.

python docs/scripts/make_figures.py                  # all figures, both languages
python docs/scripts/make_figures.py gradient_flow    # one figure
python docs/scripts/make_figures.py --lang ko prelu  # one figure, Korean only

The Korean figures need the Noto Sans CJK KR font
(Debian/Ubuntu: `apt-get install fonts-noto-cjk`).
"""

from __future__ import annotations

import argparse
import pathlib
import warnings
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

IMAGES = pathlib.Path(__file__).resolve().parents[1] / "images"
LANGUAGES = ("en", "ko")
KOREAN_FONT = "Noto Sans CJK KR"

# Sized to be read on a phone: an SVG shows at its own size (96 px to the
# inch) when the content column is wider, and scales down with the column when
# it is narrower, as on a phone, where the column is 342 px wide (a 390 px
# screen). Every figure is WIDTH inches wide (480 px) with text of at least
# 12 pt: 16 px on a desktop, 11.4 px on a phone. Panels that would be too
# narrow for their text side by side are stacked. tests/test_docs_site.py
# checks the text size as Chromium shows it.
WIDTH = 5.0
BASE_STYLE = {
    "font.size": 12,
    "axes.titlesize": 12.5,
    "axes.labelsize": 12,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "lines.linewidth": 2,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "path",
    "svg.hashsalt": "keras_acts",
    "savefig.transparent": True,
}
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip


def _lighter(colour: str, amount: float = 0.35) -> str:
    rgb = np.array(matplotlib.colors.to_rgb(colour))
    return matplotlib.colors.to_hex(rgb + (1 - rgb) * amount)


# Light: Material's default scheme (white page). Dark: its slate scheme, whose
# page is hsl(225, 15%, 14%); the tab10 colours lightened to read on it.
THEMES = {
    "light": {
        "suffix": "",
        "foreground": "#1f2329",
        "faint": "#9a9ea6",
        "legend_face": "#ffffff",
        "legend_edge": "#c8cbd0",
        "colours": TAB10,
    },
    "dark": {
        "suffix": "-dark",
        "foreground": "#d9dce3",
        "faint": "#6b7180",
        "legend_face": "#1e2129",
        "legend_edge": "#4a505e",
        "colours": [_lighter(c) for c in TAB10],
    },
}

KOREAN = {
    "ResNet50: gradient norm at step 0": "ResNet50: 스텝 0의 기울기 노름",
    "layer (input side first)": "레이어 (입력 쪽부터)",
    "training loss, last epoch": "마지막 에포크의 학습 손실",
    "as built": "원래 모델",
    "swapped": "활성화 함수 교체",
    "step": "스텝",
    "fraction": "비율",
    "Classic activations": "고전적인 활성화 함수",
    "MaxoutDense (one unit)": "MaxoutDense (유닛 1개)",
    "{pieces} pieces: slopes {slopes}": "조각 {pieces}개: slope {slopes}",
    "inference: slope (1/8 + 1/3) / 2": "추론: slope (1/8 + 1/3) / 2",
    "training: lowest slope, 1/8": "학습: 가장 낮은 slope, 1/8",
    "training: highest slope, 1/3": "학습: 가장 높은 slope, 1/3",
    "ReLU units: dead fraction": "ReLU 유닛: 죽은 유닛 비율",
    "Sigmoid units: saturated fraction": "sigmoid 유닛: 포화된 출력 비율",
    "raw inputs (std 20)": "원본 입력 (표준편차 20)",
    "standardized": "표준화된 입력",
    "gradient L2 norm": "기울기 L2 노름",
    "log10 gradient L2 norm": "log10 기울기 L2 노름",
    "time ratio, ours / Keras (log scale)": (
        "시간 비율, keras_acts / Keras (로그 스케일)"
    ),
    "One layer, forward + backward,\n1e6 elements": (
        "레이어 하나의 순전파 + 역전파,\n원소 1e6개"
    ),
    "Training step of a small 1D CNN\n(fit)": "작은 1D CNN의 학습 스텝\n(fit)",
    "Rational: initial fits": "Rational: 초기 근사",
    "Rational: learned on MNIST-1D": "Rational: MNIST-1D에서 학습된 모양",
    "fit (solid) and target (dotted)": "근사(실선)와 원래 함수(점선)",
    "start: leaky_relu fit": "시작: leaky_relu 근사",
    "layer {index}": "레이어 {index}",
}

Translate = Callable[[str], str]
# Draws one figure in the current style: (translate, theme) -> figure.
Draw = Callable[[Translate, dict], plt.Figure]


def _style(language: str, theme: dict) -> dict:
    foreground = theme["foreground"]
    style = dict(BASE_STYLE)
    style.update(
        {
            "text.color": foreground,
            "axes.labelcolor": foreground,
            "axes.titlecolor": foreground,
            "axes.edgecolor": foreground,
            "xtick.color": foreground,
            "ytick.color": foreground,
            "legend.facecolor": theme["legend_face"],
            "legend.edgecolor": theme["legend_edge"],
            "legend.framealpha": 0.9,
            "axes.prop_cycle": matplotlib.cycler(color=theme["colours"]),
        }
    )
    if language == "ko":
        from matplotlib import font_manager

        # fonts-noto-cjk installs one collection with every CJK face; the
        # matplotlib font cache may predate it, so add it here.
        for path in font_manager.findSystemFonts():
            if pathlib.Path(path).name.startswith("NotoSansCJK-Regular"):
                font_manager.fontManager.addfont(path)
        names = {font.name for font in font_manager.fontManager.ttflist}
        if KOREAN_FONT not in names:
            raise SystemExit(
                f"The Korean figures need the {KOREAN_FONT} font: "
                "apt-get install fonts-noto-cjk (or pass --lang en)."
            )
        # Its minus sign (U+2212) exists: axes.unicode_minus can stay on.
        style["font.family"] = [KOREAN_FONT, "DejaVu Sans"]
    return style


def _translator(language: str) -> Translate:
    if language == "ko":
        return lambda text: KOREAN.get(text, text)
    return lambda text: text


def _save(name: str, draw: Draw, languages: list[str]) -> None:
    for language in languages:
        folder = IMAGES / "ko" if language == "ko" else IMAGES
        folder.mkdir(parents=True, exist_ok=True)
        for theme in THEMES.values():
            with matplotlib.rc_context(_style(language, theme)):
                figure = draw(_translator(language), theme)
                path = folder / f"{name}{theme['suffix']}.svg"
                # No date in the file: regenerating unchanged figures changes
                # no bytes. dpi only matters for the rasterized heatmaps.
                figure.savefig(path, dpi=200, metadata={"Date": None})
                plt.close(figure)
    print(f"wrote the {name} figure ({', '.join(languages)})")


def _legend_below(figure: plt.Figure, handles: list, labels: list) -> None:
    """One legend for all panels, below them: as few rows as fit the figure's
    width, read row by row."""
    renderer = figure.canvas.get_renderer()
    fits = 1
    for columns in range(len(labels), 1, -1):
        legend = figure.legend(handles, labels, ncols=columns)
        width = legend.get_window_extent(renderer).width
        legend.remove()
        if width <= 0.98 * figure.bbox.width:
            fits = columns
            break
    rows = -(-len(labels) // fits)
    columns = -(-len(labels) // rows)
    # matplotlib fills the columns first: reorder so that the rows read in order.
    order = [
        row * columns + column
        for column in range(columns)
        for row in range(rows)
        if row * columns + column < len(labels)
    ]
    figure.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="outside lower center",
        ncols=columns,
    )


# --- the figures -------------------------------------------------------------


def gradient_flow() -> Draw:
    from keras_acts.demo import run_demo

    results = run_demo(
        ["sigmoid", "relu"],
        steps=2000,
        seed=1,
        plot_path=None,
        print_fn=lambda line: None,
    )
    # One colour scale for both heatmaps, as the demo's own plot has it.
    norms = np.array(
        [
            row["l2"]
            for result in results
            for row in result.gradients.history
            if row["layer"] != "(global)" and row["variable"] is None
        ],
        dtype=float,
    )
    log_norms = np.log10(norms[norms > 0])

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, axes = plt.subplots(2, 2, figsize=(WIDTH, 8.0), layout="constrained")
        for column, result in enumerate(results):
            heatmap, lines = axes[0, column], axes[1, column]
            # Each column is titled with its activation only: the colour bar
            # and the y label say what is shown, and longer titles of two
            # columns this narrow run into each other.
            result.gradients.plot(
                axes=(heatmap, lines),
                title=result.activation,
                vmin=float(log_norms.min()),
                vmax=float(log_norms.max()),
            )
            mesh = heatmap.collections[0]
            mesh.colorbar.remove()  # one shared colour bar instead
            mesh.set_rasterized(True)  # no hairline seams between cells
            heatmap.tick_params(axis="y", labelsize="medium")
            heatmap.set_xticks([0, 1000, 2000])  # six ticks crowd at this width
            heatmap.set_xlabel(tr("step"))
            lines.set_title(result.activation)
            lines.get_legend().remove()  # one shared legend instead
            lines.set_xlabel(tr("step"))
            lines.set_ylabel(tr("gradient L2 norm") if column == 0 else "")
        # The same log scale below as in the heatmaps, so that the two
        # nets' lines compare at a glance.
        low = min(ax.get_ylim()[0] for ax in axes[1])
        high = max(ax.get_ylim()[1] for ax in axes[1])
        for ax in axes[1]:
            ax.set_ylim(low, high)
        axes[0, 1].tick_params(axis="y", labelleft=False)
        figure.colorbar(
            axes[0, 0].collections[0],
            ax=axes[0, :],
            label=tr("log10 gradient L2 norm"),
        )
        handles, labels = axes[1, 0].get_legend_handles_labels()
        _legend_below(figure, handles, labels)
        return figure

    return draw


def dead_and_saturated() -> Draw:
    import keras

    from keras_acts import ActivationMonitor, Standardize

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 10)).astype("float32")
    y = (x @ rng.normal(size=(10, 1))).astype("float32")

    def train(activation, inputs, optimizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((10,)),
                keras.layers.Dense(32, activation=activation, name="h1"),
                keras.layers.Dense(32, activation=activation, name="h2"),
                keras.layers.Dense(1),
            ]
        )
        model.compile(optimizer, "mse")
        monitor = ActivationMonitor(inputs, freq=2)
        model.fit(inputs, y, batch_size=32, epochs=4, verbose=0, callbacks=[monitor])
        return monitor.history

    dead = []  # (layer, rate, style, steps, fractions)
    for rate, style in ((0.2, "-"), (0.001, "--")):
        history = train("relu", x, keras.optimizers.Adam(rate))
        for layer in ("h1", "h2"):
            rows = [r for r in history if r["layer"] == layer]
            dead.append(
                (
                    f"{layer}, Adam lr={rate}",
                    style,
                    [r["step"] for r in rows],
                    [r["dead_fraction"] for r in rows],
                )
            )
    raw = 20 * x  # badly scaled inputs
    standardize = Standardize()
    standardize.adapt(raw)
    saturated = []
    for inputs, style, label in (
        (raw, "-", "raw inputs (std 20)"),
        (np.asarray(standardize(raw)), "--", "standardized"),
    ):
        history = train("sigmoid", inputs, keras.optimizers.SGD(0.01))
        rows = [r for r in history if r["layer"] == "h1"]
        saturated.append(
            (
                label,
                style,
                [r["step"] for r in rows],
                [r["saturated_fraction"] for r in rows],
            )
        )

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(WIDTH, 6.4), layout="constrained"
        )
        for label, style, steps, fractions in dead:
            top.plot(steps, fractions, style, label=label)
        for label, style, steps, fractions in saturated:
            bottom.plot(steps, fractions, style, label=f"h1, {tr(label)}")
        top.set_title(tr("ReLU units: dead fraction"))
        bottom.set_title(tr("Sigmoid units: saturated fraction"))
        for ax in (top, bottom):
            ax.set_ylabel(tr("fraction"))
            ax.set_xlabel(tr("step"))
            ax.set_ylim(-0.02, 1.02)
            ax.legend(loc="center right")
        return figure

    return draw


def _function_and_derivative(layer, x):
    """The layer's output and its derivative, elementwise, by autodiff."""
    import tensorflow as tf

    inputs = tf.constant(x.reshape(-1, 1).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs)
        total = tf.reduce_sum(outputs)
    derivative = tape.gradient(total, inputs)
    return np.asarray(outputs).ravel(), np.asarray(derivative).ravel()


X = np.linspace(-6, 6, 601)


def _two_panel(title: str, curves: list, ylim=None) -> Draw:
    """f(x) beside f'(x) under the title, one legend below both. A curve's
    label is a string or a function of the translator."""

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, (left, right) = plt.subplots(
            1, 2, figsize=(WIDTH, 3.4), layout="constrained"
        )
        for label, values, derivative in curves:
            text = label(tr) if callable(label) else tr(label)
            left.plot(X, values, label=text)
            right.plot(X, derivative, label=text)
        figure.suptitle(tr(title))
        left.set_title("f(x)")
        right.set_title("f'(x)")
        for ax in (left, right):
            ax.axhline(0, color=theme["faint"], linewidth=0.8, zorder=0)
            ax.axvline(0, color=theme["faint"], linewidth=0.8, zorder=0)
            ax.set_xlabel("x")
        if ylim:
            left.set_ylim(*ylim)
        _legend_below(figure, *left.get_legend_handles_labels())
        return figure

    return draw


def _curves(make_layer, labelled_arguments) -> list:
    return [
        (label, *_function_and_derivative(make_layer(*arguments), X))
        for label, arguments in labelled_arguments
    ]


def activations() -> Draw:
    import keras

    return _two_panel(
        "Classic activations",
        [
            (name, *_function_and_derivative(keras.activations.get(name), X))
            for name in ("sigmoid", "tanh", "relu")
        ],
    )


def prelu() -> Draw:
    from keras_acts import PReLU

    return _two_panel(
        "PReLU",
        _curves(
            lambda a: PReLU(a, channel_axis=None),
            [(f"alpha = {a}", (a,)) for a in (0.0, 0.1, 0.25, 1.0)],
        ),
        ylim=(-3, 6),
    )


def parametric_elu() -> Draw:
    from keras_acts import ParametricELU

    return _two_panel(
        "ParametricELU",
        _curves(
            lambda a: ParametricELU(a, channel_axis=None),
            [(f"alpha = {a}", (a,)) for a in (0.5, 1.0, 2.0)],
        ),
        ylim=(-2.5, 6),
    )


def pelu() -> Draw:
    from keras_acts import PELU

    return _two_panel(
        "PELU",
        _curves(
            lambda a, b: PELU(a, b, channel_axis=None),
            [
                (f"a = {a}, b = {b}", (a, b))
                for a, b in ((1.0, 1.0), (2.0, 1.0), (1.0, 2.0), (0.5, 0.25))
            ],
        ),
        ylim=(-2.5, 6),
    )


def srelu() -> Draw:
    from keras_acts import SReLU

    return _two_panel(
        "SReLU",
        _curves(
            lambda *arguments: SReLU(*arguments, channel_axis=None),
            [
                (
                    f"t_left = {t_left}, a_left = {a_left}, "
                    f"t_right = {t_right}, a_right = {a_right}",
                    (t_left, a_left, t_right, a_right),
                )
                for t_left, a_left, t_right, a_right in (
                    (0.0, 0.2, 3.0, 1.0),
                    (-1.0, 0.1, 3.0, 0.3),
                    (0.0, 0.5, 2.0, 2.0),
                )
            ],
        ),
        ylim=(-3, 6),
    )


def swish() -> Draw:
    from keras_acts import Swish

    return _two_panel(
        "Swish",
        _curves(
            lambda beta: Swish(beta, channel_axis=None),
            [(f"beta = {beta}", (beta,)) for beta in (0.0, 0.5, 1.0, 3.0)],
        ),
        ylim=(-1.5, 6),
    )


def rrelu() -> Draw:
    from keras_acts import RReLU

    # Inference uses the mean slope; training draws each slope from the band
    # between the lower and upper curves.
    return _two_panel(
        "RReLU",
        _curves(
            RReLU,
            [
                ("inference: slope (1/8 + 1/3) / 2", (1 / 8, 1 / 3)),
                ("training: lowest slope, 1/8", (1 / 8, 1 / 8)),
                ("training: highest slope, 1/3", (1 / 3, 1 / 3)),
            ],
        ),
        ylim=(-2.5, 6),
    )


def snake() -> Draw:
    from keras_acts import Snake

    return _two_panel(
        "Snake",
        _curves(
            lambda a: Snake(a, channel_axis=None),
            [(f"alpha = {a}", (a,)) for a in (0.2, 0.5, 1.0, 2.0)],
        ),
    )


def maxout() -> Draw:
    from keras_acts import MaxoutDense

    curves = []
    for pieces, slopes in ((2, [-0.5, 1.0]), (3, [-1.0, 0.2, 1.5])):
        layer = MaxoutDense(1, pieces=pieces)
        layer.build((None, 1))
        biases = [0.0, 0.5, -1.0][:pieces]
        layer.set_weights([np.array([slopes], "float32"), np.array(biases, "float32")])
        curves.append(
            (
                # The template is translated before the numbers go in.
                lambda tr, pieces=pieces, slopes=slopes: tr(
                    "{pieces} pieces: slopes {slopes}"
                ).format(pieces=pieces, slopes=slopes),
                *_function_and_derivative(layer, X),
            )
        )
    return _two_panel("MaxoutDense (one unit)", curves)


def rational() -> Draw:
    """Left: the shipped fits (safe form) against their activations, the
    fitting range [-3, 3] shaded. Right: the functions the three Rational
    layers of docs/scripts/rational_mnist1d.py learned (seed 0), from the
    coefficients it saved, beside their start."""
    import json

    import keras

    from keras_acts import Rational

    x = np.linspace(-4, 4, 401)
    names = ("leaky_relu", "relu", "gelu", "swish", "tanh", "sigmoid")
    fits = [(name, *_function_and_derivative(Rational(name), x)) for name in names]
    targets = [
        keras.ops.convert_to_numpy(
            keras.activations.leaky_relu(x, negative_slope=0.01)  # the paper's
            if name == "leaky_relu"
            else keras.activations.get(name)(x)
        )
        for name in names
    ]
    numbers = pathlib.Path(__file__).resolve().parents[1] / "numbers"
    learned = json.loads((numbers / "rational_mnist1d.json").read_text())
    layers = learned["learned_seed_0"]
    start = _function_and_derivative(Rational(), x)[0]
    shapes = [
        _function_and_derivative(
            Rational(
                approximation=None,
                numerator_initializer=coefficients["numerator"],
                denominator_initializer=coefficients["denominator"],
            ),
            x,
        )[0]
        for coefficients in layers.values()
    ]

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(WIDTH, 6.6), layout="constrained"
        )
        for index, ((name, values, _), target) in enumerate(
            zip(fits, targets, strict=True)
        ):
            colour = theme["colours"][index]
            top.plot(x, values, color=colour, label=name)
            top.plot(x, target, color=colour, linestyle=":", linewidth=1.3)
        top.set_title(tr("Rational: initial fits"))
        top.text(
            0.03, 0.97, tr("fit (solid) and target (dotted)"),
            transform=top.transAxes, va="top",
        )  # fmt: skip
        bottom.plot(
            x, start, color=theme["faint"], linestyle="--",
            label=tr("start: leaky_relu fit"),
        )  # fmt: skip
        for index, values in enumerate(shapes, start=1):
            bottom.plot(x, values, label=tr("layer {index}").format(index=index))
        bottom.set_title(tr("Rational: learned on MNIST-1D"))
        bottom.legend(loc="upper left")
        for ax in (top, bottom):
            ax.axvspan(-3, 3, color=theme["faint"], alpha=0.12, linewidth=0)
            ax.axhline(0, color=theme["faint"], linewidth=0.8, zorder=0)
            ax.axvline(0, color=theme["faint"], linewidth=0.8, zorder=0)
            ax.set_xlabel("x")
        top.set_ylim(-2, 4)
        bottom.set_ylim(-2, 6)
        _legend_below(figure, *top.get_legend_handles_labels())
        return figure

    return draw


RESULTS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "results"
BACKEND_NAMES = {"tensorflow": "TF", "jax": "JAX", "torch": "PyTorch"}
RATIO_TICKS = (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4)


def _ratio_panel(axis, records, series, rows, target, tr) -> None:
    """Each record's median ratio as a dot on its row, its range over the
    rounds as a bar, one colour (and a small offset) per series."""
    offsets = np.linspace(-0.3, 0.3, len(series)) if len(series) > 1 else [0.0]
    for index, (key, label) in enumerate(series.items()):
        chosen = {r["row"]: r for r in records if r["series"] == key}
        y = [rows.index(row) + offsets[index] for row in chosen]
        median = np.array([r["ratio"] for r in chosen.values()])
        low = median - [r["ratio_min"] for r in chosen.values()]
        high = [r["ratio_max"] for r in chosen.values()] - median
        axis.errorbar(
            median, y, xerr=[low, high], fmt="o", markersize=5, capsize=2,
            elinewidth=1.2, label=label,
        )  # fmt: skip
    axis.axvline(1.0, color=plt.rcParams["axes.edgecolor"], linewidth=1)
    if target is not None:
        axis.axvline(target, linestyle="--", linewidth=1.2, color="#d62728")
    axis.set_xscale("log")
    # Plain numbers at a few ratios: log-scale labels (4 x 10^-1) crowd.
    axis.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(RATIO_TICKS))
    axis.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.set_yticks(range(len(rows)), rows)
    axis.invert_yaxis()
    axis.set_xlabel(tr("time ratio, ours / Keras (log scale)"))
    # Below the panel, where it covers no row.
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2)


def benchmarks() -> Draw:
    """Median and range over the rounds of benchmarks/layers.py (at 1e6
    elements) and benchmarks/end_to_end.py, from their JSON results."""
    import json

    layers = json.loads((RESULTS / "layers.json").read_text())["records"]
    end_to_end = json.loads((RESULTS / "end_to_end.json").read_text())["records"]
    layer_records = [
        {**r, "row": r["layer"], "series": (r["backend"], r["mode"])}
        for r in layers
        if r["elements"] == 1_000_000 and r["target"] is not None
    ]
    layer_rows = list(dict.fromkeys(r["row"] for r in layer_records))
    layer_series = {
        s: f"{BACKEND_NAMES[s[0]]} {s[1]}"
        for s in dict.fromkeys(r["series"] for r in layer_records)
    }
    e2e_records = [{**r, "row": r["layer"], "series": r["backend"]} for r in end_to_end]
    e2e_rows = list(dict.fromkeys(r["row"] for r in e2e_records))
    e2e_series = {
        s: BACKEND_NAMES[s] for s in dict.fromkeys(r["series"] for r in e2e_records)
    }

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, (top, bottom) = plt.subplots(
            2,
            1,
            figsize=(WIDTH, 12),
            height_ratios=[len(layer_rows), len(e2e_rows)],
            layout="constrained",
        )
        _ratio_panel(top, layer_records, layer_series, layer_rows, None, tr)
        top.set_title(tr("One layer, forward + backward,\n1e6 elements"))
        _ratio_panel(
            bottom, e2e_records, e2e_series, e2e_rows, end_to_end[0]["target"], tr
        )
        bottom.set_title(tr("Training step of a small 1D CNN\n(fit)"))
        return figure

    return draw


def real_models() -> Draw:
    """Left: the gradient norm of each layer of ResNet50 at step 0, input
    side first, with its ReLUs and with PReLU in their place. Right: the
    training loss of the last epoch of each model of the Real models page,
    as built and with its activation swapped. From docs/numbers/real_models.json
    (docs/scripts/real_models.py)."""
    import json

    numbers = pathlib.Path(__file__).resolve().parents[1] / "numbers"
    models = json.loads((numbers / "real_models.json").read_text())["models"]
    resnet = models["ResNet50"]
    names = list(models)

    def draw(tr: Translate, theme: dict) -> plt.Figure:
        figure, (top, bottom) = plt.subplots(
            2, 1, figsize=(WIDTH, 7.6), layout="constrained"
        )
        for run, label in (("original", resnet["old"]), ("swapped", resnet["new"])):
            norms = resnet[run]["gradient_norms"]
            # Points, not a line: BatchNormalization's small norms alternate
            # with the convolutions' along the depth.
            top.semilogy(
                range(1, len(norms) + 1), norms, ".", markersize=4, label=label
            )
        top.set_title(tr("ResNet50: gradient norm at step 0"))
        top.set_xlabel(tr("layer (input side first)"))
        top.legend(loc="upper right", markerscale=3)
        rows = np.arange(len(names))
        height = 0.38
        for offset, run in ((-height / 2, "original"), (height / 2, "swapped")):
            bottom.barh(
                rows + offset,
                [models[n][run]["loss"][-1] for n in names],
                height,
                label=tr("as built") if run == "original" else tr("swapped"),
            )
        bottom.set_yticks(rows, [n.removesuffix("Backbone") for n in names])
        bottom.invert_yaxis()
        bottom.set_title(tr("training loss, last epoch"))
        bottom.legend(loc="lower right")
        return figure

    return draw


FIGURES: dict[str, Callable[[], Draw]] = {
    "activations": activations,
    "gradient_flow": gradient_flow,
    "dead_and_saturated": dead_and_saturated,
    "prelu": prelu,
    "parametric_elu": parametric_elu,
    "maxout": maxout,
    "pelu": pelu,
    "srelu": srelu,
    "swish": swish,
    "snake": snake,
    "rrelu": rrelu,
    "rational": rational,
    "benchmarks": benchmarks,
    "real_models": real_models,
}
# The name of all the activation plots together, from before they were split.
GROUPS = {
    "activation_plots": [
        "activations", "prelu", "parametric_elu", "maxout", "pelu",
        "srelu", "swish", "snake", "rrelu",
    ],
}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="name",
        help=f"figures to make, default all: {', '.join(FIGURES)}",
    )
    parser.add_argument(
        "--lang",
        choices=("en", "ko", "all"),
        default="all",
        help="the language of the labels; default all (English and Korean)",
    )
    arguments = parser.parse_args(argv)
    from keras_acts import DiagnosisWarning

    # The figures show these problems on purpose.
    warnings.simplefilter("ignore", DiagnosisWarning)
    unknown = [n for n in arguments.names if n not in FIGURES and n not in GROUPS]
    if unknown:
        parser.error(f"unknown figures {unknown}: expected names from {list(FIGURES)}")
    languages = list(LANGUAGES) if arguments.lang == "all" else [arguments.lang]
    names = []
    for name in arguments.names or list(FIGURES):
        names.extend(GROUPS.get(name, [name]))
    for name in dict.fromkeys(names):
        _save(name, FIGURES[name](), languages)


if __name__ == "__main__":
    main()
