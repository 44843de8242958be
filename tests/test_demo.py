import subprocess
import sys

import numpy as np
import pytest

from keras_acts.demo import run_demo, save_gradient_flow_plot, train_xor
from keras_acts_cli import build_parser, main

# TensorFlow only: the demo attaches the monitors.
pytestmark = pytest.mark.tensorflow_only


def test_deep_sigmoid_net_stalls_where_relu_learns():
    _, sigmoid = train_xor("sigmoid", steps=600, seed=1)
    _, relu = train_xor("relu", steps=600, seed=1)
    assert sigmoid.loss == pytest.approx(0.6931, abs=2e-3)
    assert sigmoid.accuracy <= 0.5
    assert relu.loss < 0.05 and relu.accuracy == 1.0


def test_demo_prints_a_table_for_the_chosen_activations():
    lines = []
    results = run_demo(
        ["PReLU", "MaxoutDense"],
        steps=600,
        seed=1,
        plot_path=None,
        print_fn=lines.append,
    )
    assert [r.activation for r in results] == ["PReLU", "MaxoutDense"]
    assert all(r.accuracy == 1.0 for r in results)
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == ["activation", "loss", "accuracy", "seconds"]
    assert [row.split()[0] for row in table[1:3]] == ["PReLU", "MaxoutDense"]


def test_gradient_report_and_plot(tmp_path):
    lines = []
    plot = tmp_path / "flow.png"
    sigmoid, relu = run_demo(
        ["sigmoid", "relu"], steps=100, seed=1, plot_path=plot, print_fn=lines.append
    )
    assert plot.stat().st_size > 10_000
    for result in (sigmoid, relu):
        relative = result.relative_gradient_norms()
        assert list(relative)[0] == "hidden_1" and relative["output"] == 1.0
    # The vanishing gradient: the first sigmoid layer gets orders of magnitude
    # less than the output layer; the relu one does not.
    assert sigmoid.relative_gradient_norms()["hidden_1"] < 1e-3
    assert relu.relative_gradient_norms()["hidden_1"] > 1e-1
    heading = "Gradient L2 norm of each layer relative to the output layer, at step 50:"
    report = lines[lines.index(heading) + 1 :]
    assert report[0].split() == ["layer", "sigmoid", "relu"]
    first = report[1].split()
    assert first[0] == "hidden_1"
    assert float(first[1]) == pytest.approx(
        sigmoid.relative_gradient_norms()["hidden_1"], rel=0.06
    )


def test_gradient_flow_plot_puts_both_heatmaps_on_one_colour_scale(
    tmp_path, monkeypatch
):
    import matplotlib.pyplot as plt

    results = run_demo(["sigmoid", "relu"], steps=20, seed=1, print_fn=lambda _: None)
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    save_gradient_flow_plot(results, tmp_path / "flow.png")
    (figure,) = figures
    meshes = [axes.collections[0] for axes in figure.axes if axes.get_title()]
    assert len(meshes) == 2
    low = min(float(np.nanmin(mesh.get_array())) for mesh in meshes)
    high = max(float(np.nanmax(mesh.get_array())) for mesh in meshes)
    for mesh in meshes:
        assert mesh.get_clim() == pytest.approx((low, high))


def test_cli_runs_the_demo(capsys):
    assert main(["demo", "--steps", "50", "--activations", "tanh", "--no-plot"]) == 0
    assert "tanh" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["demo", "--steps", "0"], ["demo", "--activations", "swish"], []]
)
def test_cli_rejects_bad_arguments(argv):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2


def test_module_entry_point_shows_help():
    result = subprocess.run(
        [sys.executable, "-m", "keras_acts", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "--activations" in result.stdout


def test_demo_reports_dead_and_saturated_units():
    lines = []
    run_demo(
        ["sigmoid", "relu"], steps=100, seed=1, plot_path=None, print_fn=lines.append
    )
    start = next(i for i, line in enumerate(lines) if line.startswith("Dead units"))
    header, *rows = lines[start + 1 : start + 11]
    assert header.split() == ["layer", "sigmoid", "relu"]
    assert [row.split()[0] for row in rows] == [f"hidden_{i}" for i in range(1, 10)]
    for row in rows:
        _, sigmoid_dead, _, sigmoid_saturated, relu_dead, _, relu_saturated = (
            row.split()
        )
        # Sigmoid units cannot die; relu outputs have no bounded range.
        assert sigmoid_dead == "-" and relu_saturated == "-"
        assert sigmoid_saturated.endswith("%") and relu_dead.endswith("%")


def test_demo_without_matplotlib_says_so_instead_of_failing(tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real_find_spec(name, *a),
    )
    lines = []
    plot = tmp_path / "flow.png"
    run_demo(["sigmoid", "relu"], steps=60, plot_path=plot, print_fn=lines.append)
    assert not plot.exists()
    assert any("needs matplotlib" in line for line in lines)


def test_newer_activations_stall_or_diverge_where_the_guide_says():
    # docs/guide/why_activations.md: on this net (seed 0) Swish stalls like
    # the sigmoid (slope 1/2 at 0), which the demo's loss check names (its
    # gradients are small in every layer alike, no trend with depth for the
    # vanishing rule); Snake's gradients explode, which GradientMonitor
    # flags; PELU solves the problem.
    lines = []
    swish, snake, pelu = run_demo(
        ["Swish", "Snake", "PELU"],
        steps=300,
        seed=0,
        plot_path=None,
        print_fn=lines.append,
    )
    assert swish.loss == pytest.approx(np.log(2), abs=1e-3)
    assert not np.isfinite(snake.loss)
    assert pelu.accuracy == 1.0
    assert "Stuck at ln 2 (vanishing gradients): Swish" in lines
    assert "Non-finite loss (exploding gradients): Snake" in lines
    final = [r for r in swish.gradients.history if r["layer"] == "(global)"][-1]
    assert final["l2"] < 1e-2  # the stall, in the records
    assert "nonfinite" in {flag.kind for flag in snake.gradients.flags()}
    assert pelu.gradients.flags() == []
    # ActivationMonitor knows the new layers: a row per activation layer,
    # and the learned parameters' trajectories.
    assert {row["activation"] for row in pelu.activations.history} == {
        "PELU",
        "sigmoid",  # the output layer
    }
    assert {row["parameter"] for row in pelu.activations.parameter_history} == {
        "a",
        "b",
    }


def test_snake_trains_with_the_default_seed_as_the_guide_says():
    # docs/guide/why_activations.md: whether Snake diverges on this net
    # depends on the initial weights; with the demo's default seed it trains.
    (snake,) = run_demo(["Snake"], steps=300, plot_path=None, print_fn=lambda _: None)
    assert snake.loss < 0.05
    assert "nonfinite" not in {flag.kind for flag in snake.gradients.flags()}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"activations": ["relu", "relu"]}, r"each activation once; \['relu'\]"),
        ({"activations": []}, "at least one activation"),
        ({"plot_path": "/proc/x.png"}, "cannot write '/proc/x.png'"),
        ({"plot_path": "/no/such/folder/x.png"}, "does not exist"),
    ],
)
def test_bad_arguments_are_refused_before_training(kwargs, match, monkeypatch):
    import keras_acts.demo

    monkeypatch.setattr(
        keras_acts.demo, "train_xor", lambda *a, **k: pytest.fail("trained")
    )
    arguments = {"activations": ["relu"], "steps": 60, "print_fn": lambda _: None}
    with pytest.raises(ValueError, match=match):
        run_demo(**{**arguments, **kwargs})


def test_a_plot_of_one_activation_is_written(tmp_path):
    lines = []
    plot = tmp_path / "y.png"
    run_demo(["tanh"], steps=60, plot_path=plot, print_fn=lines.append)
    assert plot.stat().st_size > 10_000
    assert lines[-1] == f"\nWrote {plot}: gradient norms per layer, tanh."
