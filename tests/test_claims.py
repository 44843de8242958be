"""docs/scripts/claims.py, the measurements of the page "Claims, measured":
every claim runs in its fast mode, measures what it says, and the pages quote
only numbers the committed JSON has and figures that exist."""

import json
import pathlib
import re
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NUMBERS = ROOT / "docs" / "numbers" / "claims.json"
PAGES = [ROOT / "docs" / "claims.md", ROOT / "docs" / "claims.ko.md"]
PLACEHOLDER = re.compile(r"\{\{\s*claims\.(\w+)(?::[^}]*)?\s*\}\}")
FIGURE = re.compile(r"!\[[^\]]*\]\(([^)#]+)(?:#[^)]*)?\)")


def committed_numbers() -> dict:
    return json.loads(NUMBERS.read_text())


@pytest.fixture(scope="module")
def claims():
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    pytest.importorskip("mnist1d")
    sys.path.insert(0, str(ROOT / "docs" / "scripts"))
    try:
        import claims
    finally:
        sys.path.remove(str(ROOT / "docs" / "scripts"))
    return claims


@pytest.fixture(scope="module")
def fast_results(claims):
    """Every claim measured in the fast mode."""
    return claims.measure(list(claims.CLAIMS), fast=True)


@pytest.fixture(scope="module")
def fast_run(claims, fast_results, tmp_path_factory):
    """The numbers of the fast run, as the script writes them, and its
    English figures."""
    folder = tmp_path_factory.mktemp("claims")
    numbers = {}
    for result in fast_results.values():
        numbers.update(result.numbers)
        for name, draw in result.figures.items():
            claims.save_figure(name, draw, folder / "images", ["en"])
    claims.write_numbers(folder / "claims.json", numbers, merge=False)
    return json.loads((folder / "claims.json").read_text()), folder / "images"


# --- the pages and the committed numbers (no TensorFlow needed) ----------------


def test_every_placeholder_names_a_committed_number():
    numbers = committed_numbers()
    for page in PAGES:
        keys = PLACEHOLDER.findall(page.read_text())
        assert keys, page.name
        missing = sorted(set(keys) - set(numbers))
        assert not missing, f"{page.name}: {missing}"


def test_both_pages_quote_the_same_numbers():
    english, korean = (set(PLACEHOLDER.findall(p.read_text())) for p in PAGES)
    assert english == korean


def test_every_figure_the_pages_show_exists_in_both_themes():
    for page in PAGES:
        figures = FIGURE.findall(page.read_text())
        assert figures, page.name
        for figure in figures:
            path = (page.parent / figure).resolve()
            assert path.exists(), f"{page.name}: {figure}"
            assert path.name.startswith("claims_"), figure
        # Each figure is shown light and dark.
        light = {f for f in figures if not f.endswith("-dark.svg")}
        dark = {
            f.replace("-dark.svg", ".svg") for f in figures if f.endswith("-dark.svg")
        }
        assert light == dark, page.name
    korean = {f for f in FIGURE.findall(PAGES[1].read_text())}
    assert all("/ko/" in f for f in korean)


def test_committed_numbers_are_finite():
    for key, value in committed_numbers().items():
        assert isinstance(value, (int, float)) and np.isfinite(value), key


# --- the fast mode ---------------------------------------------------------------


@pytest.mark.tensorflow_only
def test_fast_run_writes_every_committed_key_and_figure(claims, fast_run):
    numbers, images = fast_run
    assert sorted(numbers) == sorted(committed_numbers())
    for page in PAGES[:1]:
        for figure in FIGURE.findall(page.read_text()):
            assert (images / pathlib.Path(figure).name).exists(), figure


@pytest.mark.tensorflow_only
def test_every_figure_label_has_a_korean_translation(claims, fast_results):
    import make_figures

    missing = set()

    def record(text):
        if text not in claims.KOREAN and text not in make_figures.KOREAN:
            missing.add(text)
        return text

    for result in fast_results.values():
        for draw in result.figures.values():
            claims.plt.close(draw(record, claims.THEMES["light"]))
    assert not missing


@pytest.mark.tensorflow_only
def test_command_line_writes_numbers_and_figures(claims, tmp_path):
    claims.main(
        [
            "--fast",
            "--only",
            "sigmoid_saturation",
            "--numbers",
            str(tmp_path / "n.json"),
            "--images",
            str(tmp_path),
            "--lang",
            "en",
        ]
    )
    numbers = json.loads((tmp_path / "n.json").read_text())
    assert numbers["sigmoid_derivative_max"] == pytest.approx(0.25)
    assert (tmp_path / "claims_sigmoid.svg").exists()
    assert (tmp_path / "claims_sigmoid-dark.svg").exists()
    # --only merges into the file.
    (tmp_path / "n.json").write_text('{"kept": 1}')
    claims.main(
        [
            "--fast",
            "--only",
            "sigmoid_saturation",
            "--numbers",
            str(tmp_path / "n.json"),
            "--no-figures",
        ]
    )
    assert json.loads((tmp_path / "n.json").read_text())["kept"] == 1


@pytest.mark.tensorflow_only
def test_sigmoid_derivative_bound_and_saturation(fast_run):
    numbers, _ = fast_run
    assert numbers["sigmoid_derivative_max"] == pytest.approx(0.25, abs=1e-6)
    assert numbers["sigmoid_derivative_argmax"] == pytest.approx(0.0, abs=1e-3)
    assert numbers["sigmoid_derivative_at_5"] < 7e-3
    assert numbers["sigmoid_derivative_at_5"] == pytest.approx(0.006648, rel=1e-3)
    assert 4.9 < numbers["sigmoid_saturation_x"] < 5.0
    assert numbers["tanh_derivative_max"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.tensorflow_only
def test_deep_sigmoid_gradient_shrinks_where_relu_does_not(fast_run):
    numbers, _ = fast_run
    # Seed 1 is the demo's own run (docs: Why activations matter).
    first = numbers["sigmoid_first_layer_relative_gradient_seed_1"]
    assert 1e-6 < first < 1e-4
    assert numbers["sigmoid_gradient_factor_per_layer_median"] > 2
    assert numbers["relu_first_layer_relative_gradient_median"] > 0.1


@pytest.mark.tensorflow_only
def test_same_sign_fraction(claims):
    import keras

    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1.0, size=(32, 6)).astype("float32")
    y = rng.integers(0, 3, size=32)
    layer = keras.layers.Dense(3)
    model = keras.Sequential([keras.Input((6,)), layer])
    gradients = claims.per_example_kernel_gradients(model, layer, x, y)
    assert gradients.shape == (32, 6, 3)
    # One example's gradient is the outer product of its input and its
    # output gradient; their sum is the batch gradient.
    assert claims.same_sign_fraction(gradients) == 1.0
    centered = claims.per_example_kernel_gradients(model, layer, x - x.mean(0), y)
    assert claims.same_sign_fraction(centered) < 0.2
    rows = np.array(
        [[[1.0], [0.0], [2.0]], [[-1.0], [1.0], [0.0]], [[0.0], [0.0], [0.0]]]
    )
    assert claims.same_sign_fraction(rows) == 0.5  # the zero row is left out


@pytest.mark.tensorflow_only
def test_zero_centered_inputs_measure_the_sign_structure(fast_run):
    numbers, _ = fast_run
    assert numbers["same_sign_fraction_raw"] == 1.0  # pixels are >= 0
    assert numbers["same_sign_fraction_sigmoid"] == 1.0
    assert numbers["same_sign_fraction_centered"] < 0.05
    assert numbers["same_sign_fraction_tanh"] < 0.05


@pytest.mark.tensorflow_only
def test_dead_units_counted_as_activation_monitor_counts_them(fast_run):
    numbers, _ = fast_run
    # For ReLU the census and ActivationMonitor's dead_data count agree.
    assert numbers["dead_monitor_max_difference"] == 0.0
    for activation in ("leaky_relu", "prelu"):
        for rate in ("lr_low", "lr_mid", "lr_high"):
            # A slope of 0.01 (or PReLU's 0.25) is never below 1e-3.
            assert numbers[f"dead_{activation}_{rate}_final_max"] == 0.0


@pytest.mark.tensorflow_only
def test_recovered_fraction(claims):
    masks = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0]], dtype=bool)
    assert claims.recovered_fraction(masks) == 0.5
    assert claims.recovered_fraction(np.zeros((2, 3), bool)) == 0.0


@pytest.mark.tensorflow_only
def test_maxout_has_twice_the_parameters_and_learns_relu(fast_run):
    numbers, _ = fast_run
    assert (
        numbers["maxout_parameters_maxout_dense"]
        == 2 * (numbers["maxout_parameters_dense"])
    )
    assert numbers["maxout_parameter_ratio"] == 2.0


@pytest.mark.tensorflow_only
def test_prelu_slopes_are_read_from_every_prelu_layer(fast_run):
    numbers, _ = fast_run
    for name in ("conv_1", "conv_2", "conv_3", "conv_4", "dense"):
        # One epoch moves the slopes away from their initial 0.25, a little.
        assert 0.0 < numbers[f"prelu_slope_{name}_median"] < 1.0
    assert -1.0 <= numbers["prelu_depth_correlation_median"] <= 1.0


def test_rank_correlation(claims):
    assert claims.rank_correlation([0, 1, 2, 3], [4.0, 3.0, 2.0, 1.0]) == -1.0
    assert claims.rank_correlation([0, 1, 2], [0.1, 0.5, 0.9]) == 1.0


def test_spread_and_epochs_to_target(claims):
    assert claims.spread("k", [3, 1, 2]) == {
        "k_median": 2.0,
        "k_min": 1.0,
        "k_max": 3.0,
    }
    run = claims.Run(np.array([0, 0.5, 1.0]), np.array([0.9, 0.2, 0.1]), 0.25, 5.0)
    assert run.reached and run.epochs_to_target == 0.5
    never = claims.Run(np.array([0, 1.0]), np.array([0.9, 0.8]), 0.25, 5.0)
    assert not never.reached and never.epochs_to_target == 5.0


@pytest.mark.tensorflow_only
def test_convergence_and_preprocessing_numbers(fast_run):
    numbers, _ = fast_run
    for dataset in ("digits", "mnist1d"):
        assert numbers[f"tanh_relu_epoch_ratio_{dataset}_median"] > 0
        # sigmoid outputs sit around 1/2, tanh's around 0.
        assert numbers[f"sigmoid_mean_output_{dataset}_median"] > 0.2
        assert abs(numbers[f"tanh_mean_output_{dataset}_median"]) < 0.2
    for name in ("raw", "channel_mean", "mean_image", "standardized"):
        assert numbers[f"preprocessing_epochs_{name}_median"] > 0
    assert abs(numbers["preprocessing_input_mean_mean_image"]) < 1e-4
    assert numbers["preprocessing_input_mean_raw"] > 0.1


def test_the_demo_run_agrees_with_the_demo_numbers_the_guides_quote():
    # The page quotes the demo's number from docs/numbers/demo.json; the
    # claims script measures the same run (seed 1) and must agree with it.
    demo = json.loads((ROOT / "docs" / "numbers" / "demo.json").read_text())
    assert json.loads(NUMBERS.read_text())[
        "sigmoid_first_layer_relative_gradient_seed_1"
    ] == pytest.approx(demo["sigmoid_first_layer_ratio"], rel=1e-6)
