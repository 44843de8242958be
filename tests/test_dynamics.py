"""The training dynamics that ActivationMonitor measures on its probe batch
(`dynamics_freq`): Hessian-vector products and the largest eigenvalue
against NumPy, the gradient noise scale against per-example gradients
computed by hand, the optimizers' stability thresholds, and the rules
`lr_too_high`, `noisy_gradients` and `frozen`, each firing on a broken run
and silent on a healthy one."""

import math
import sys
import time
import warnings

import keras
import numpy as np
import pytest

import keras_acts
from keras_acts import _backends
from keras_acts.callbacks import _rules
from keras_acts.callbacks._dynamics_probe import (
    DynamicsProbe,
    TimeBudget,
    largest_eigenvalue,
    stability_threshold,
)


def _linear_regression(n=8, features=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ [[3.0], [-2.0], [1.0]] + 0.5 * rng.normal(size=(n, 1))).astype("float32")
    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.layers[0].kernel.assign(rng.normal(size=(features, 1)).astype("float32"))
    model.layers[0].bias.assign(np.array([0.3], "float32"))
    return model, x, y


def test_hessian_vector_product_matches_the_analytic_hessian():
    # Mean squared error of a linear model: H = 2/n [X 1]^T [X 1].
    model, x, y = _linear_regression()
    variables = model.trainable_variables

    def loss():
        return model.compute_loss(x=x, y=y, y_pred=model(x)), None

    design = np.concatenate([x, np.ones((len(x), 1), "float32")], axis=1)
    hessian = 2.0 / len(x) * design.T @ design
    vector = np.arange(1.0, 5.0)
    product = _backends.module("autodiff").hessian_vector_product(
        loss,
        variables,
        [vector[:3, None].astype("float32"), vector[3:].astype("float32")],
    )
    got = np.concatenate([_backends.to_numpy(p).ravel() for p in product])
    np.testing.assert_allclose(got, hessian @ vector, rtol=1e-4)


def test_largest_eigenvalue_of_a_matrix_whose_dominant_one_is_negative():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    matrix = basis @ np.diag([-9.0, 4.0, 1.0, 0.5, -1.0, 0.1]) @ basis.T

    def product(vector):
        return [matrix @ vector[0]]

    # Power iteration alone would find -9; the largest eigenvalue is 4.
    assert largest_eigenvalue(product, [(6,)]) == pytest.approx(4.0, rel=0.05)


def test_largest_eigenvalue_of_a_positive_matrix():
    matrix = np.diag([0.5, 7.0, 2.0])
    assert largest_eigenvalue(lambda v: [matrix @ v[0]], [(3,)]) == pytest.approx(
        7.0, rel=0.03
    )


@pytest.mark.parametrize(
    "optimizer, threshold",
    [
        (keras.optimizers.SGD(0.1), 2.0),
        (keras.optimizers.SGD(0.1, momentum=0.9), 3.8),
        (keras.optimizers.SGD(0.1, momentum=0.5, nesterov=True), 1.5),
        (keras.optimizers.Adam(), 38.0),
        (keras.optimizers.RMSprop(), 2.0),
    ],
    ids=["sgd", "momentum", "nesterov", "adam", "rmsprop"],
)
def test_stability_thresholds(optimizer, threshold):
    assert stability_threshold(optimizer) == pytest.approx(threshold)


def test_noise_scale_matches_per_example_gradients():
    # Eight examples in eight groups: the estimate is the per-example
    # gradients' sample covariance, exactly.
    model, x, y = _linear_regression()
    model(x)
    probe = DynamicsProbe(model, model, (x, y, None), batch_size=4)
    measured = probe.measure()
    w = _backends.to_numpy(model.layers[0].kernel).ravel()
    b = float(_backends.to_numpy(model.layers[0].bias)[0])
    residual = x @ w + b - y[:, 0]
    per_example = (
        2.0 * residual[:, None] * np.concatenate([x, np.ones((len(x), 1))], axis=1)
    )
    mean = per_example.mean(axis=0)
    trace = per_example.var(axis=0, ddof=1).sum()
    signal = mean @ mean - trace / len(x)
    assert 0 < trace / signal < len(x)  # measurable on 8 examples
    assert measured["noise_scale"]["(global)"] == pytest.approx(
        trace / signal, rel=1e-3
    )
    # The layer's kernel and bias are all the model's weights.
    layer = model.layers[0].name
    assert measured["noise_scale"][layer] == measured["noise_scale"]["(global)"]
    np.testing.assert_allclose(
        np.concatenate([g.ravel() for g in measured["gradient"]]), mean, rtol=1e-4
    )
    hessian = 2.0 / len(x) * np.concatenate([x, np.ones((len(x), 1))], 1)
    hessian = hessian.T @ np.concatenate([x, np.ones((len(x), 1))], 1)
    assert measured["sharpness"] == pytest.approx(
        np.linalg.eigvalsh(hessian).max(), rel=0.03
    )


def _record(step, stability, noise=None):
    return {
        "step": step,
        "sharpness": 10.0,
        "step_size": stability * 0.2,
        "stability": stability,
        "noise_scale": {"(global)": noise, "h1": noise} if noise else {},
    }


def test_lr_too_high_needs_overshooting_steps_and_no_progress():
    flat = [(0, 2.3), (15, 2.6), (30, 2.4)]
    learning = [(0, 2.3), (15, 1.8), (30, 1.2)]
    overshoot = [_record(0, 25.0), _record(15, 0.5)]
    stable = [_record(0, 1.5), _record(15, 1.2)]
    kinds = lambda *args: [  # noqa: E731
        f.flag.kind for f in _rules.dynamics_findings(*args, batch_size=32)
    ]
    assert kinds(flat, overshoot) == ["lr_too_high"]
    # At the edge of stability, or learning: no flag.
    assert kinds(flat, stable) == []
    assert kinds(learning, overshoot) == []
    # Losses at fewer than three steps (one step's change on a small probe):
    # no trend to judge.
    assert kinds([(0, 2.3), (30, 2.4)], overshoot) == []
    assert kinds([(0, 2.3), (0, 9.0), (30, 9.0)], overshoot) == []
    # A loss that became infinite is the exploding rule's, not this one's.
    assert kinds([(0, 2.3), (15, 2.4), (30, math.inf)], overshoot) == []


def test_noisy_gradients_needs_a_small_batch_at_first_and_no_progress():
    flat = [(0, 2.3), (50, 2.4), (100, 2.3)]
    noisy = [_record(0, 0.1, noise=400.0), _record(40, 0.1, noise=500.0)]

    def kinds(losses, records, batch_size):
        return [
            f.flag.kind for f in _rules.dynamics_findings(losses, records, batch_size)
        ]

    assert kinds(flat, noisy, 2) == ["noisy_gradients"]
    assert kinds(flat, noisy, 64) == []  # batch above a tenth of the scale
    assert kinds([(0, 2.3), (50, 1.5), (100, 1.0)], noisy, 2) == []
    # Only later records noisy (converged, or thrown about): no flag.
    late = [_record(0, 0.1, noise=10.0), _record(20, 0.1, noise=5000.0)]
    assert kinds(flat, late, 2) == []


def _mlp(frozen=None, bias=None):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, "relu", name="h1"),
            keras.layers.Dense(8, "relu", name="h2"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    if bias is not None:
        model.get_layer("h1").bias.assign(np.full(8, bias, "float32"))
    if frozen:
        model.get_layer(frozen).trainable = False
    model.compile(optimizer="adam", loss="mse")
    return model


def test_frozen_flags_a_layer_frozen_at_its_initialization_only():
    def frozen(model):
        return [
            (f.flag.kind, f.layers)
            for f in _rules.frozen_findings(
                [(layer.name, layer) for layer in model.layers]
            )
        ]

    assert frozen(_mlp(frozen="h1")) == [("frozen", ("h1",))]
    assert frozen(_mlp()) == []
    # Trained weights frozen on purpose (fine-tuning): not flagged.
    assert frozen(_mlp(frozen="h1", bias=0.1)) == []


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, :1] * x[:, 1:2]).astype("float32")


def test_monitor_records_dynamics_on_its_own_schedule():
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _mlp()
    monitor = keras_acts.ActivationMonitor(
        (x, y), freq="epoch", dynamics_freq=3, warn=False
    )
    model.fit(x, y, batch_size=16, epochs=2, callbacks=[monitor], verbose=0)
    history = monitor.dynamics_history
    assert [row["step"] for row in history] == [0, 3, 6]
    assert {
        "step",
        "epoch",
        "loss",
        "sharpness",
        "step_size",
        "threshold",
        "stability",
        "noise_scale",
    } <= set(history[0])
    # Adam's step is measured from its update: one per record.
    assert all(row["step_size"] > 0 for row in history)
    assert [row["threshold"] for row in history] == pytest.approx([38.0] * 3)
    assert set(history[0]["noise_scale"]) == {"h1", "h2", "out", "(global)"}
    # A second fit starts a new history (unless append=True).
    model.fit(x, y, batch_size=16, epochs=1, callbacks=[monitor], verbose=0)
    assert [row["step"] for row in monitor.dynamics_history] == [8, 9]


def test_no_dynamics_without_targets_or_when_turned_off():
    x, y = _data()
    for monitor in (
        keras_acts.ActivationMonitor(x, warn=False),
        keras_acts.ActivationMonitor((x, y), dynamics_freq=None, warn=False),
    ):
        _mlp().fit(x, y, epochs=1, callbacks=[monitor], verbose=0)
        assert monitor.dynamics_history == []


@pytest.mark.parametrize("limit, measured", [(None, True), (1e3, True), (1e-9, False)])
def test_a_fit_skips_the_dynamics_when_a_measurement_would_take_too_long(
    limit, measured
):
    keras.utils.set_random_seed(0)
    x, y = _data()
    monitor = keras_acts.ActivationMonitor(
        (x, y), freq=2, dynamics_freq=2, dynamics_max_seconds=limit, warn=False
    )
    _mlp().fit(x, y, batch_size=16, epochs=1, callbacks=[monitor], verbose=0)
    assert bool(monitor.dynamics_history) == measured
    if measured:
        assert monitor.dynamics_skipped_seconds is None
    else:
        assert monitor.dynamics_skipped_seconds > 1e-9


@pytest.mark.parametrize("slow_calls, measured", [(1, True), (2, False)])
def test_the_skip_is_decided_on_a_warm_probe(monkeypatch, slow_calls, measured):
    # A first probe that pays a one-off cost (JAX compiles each operation at
    # its first eager call) does not skip the dynamics of a fast model.
    from keras_acts.callbacks._activation_probe import Probe

    measure = Probe.measure
    calls = []

    def measured_slowly(self):
        calls.append(None)
        if len(calls) <= slow_calls:
            time.sleep(0.5)
        return measure(self)

    monkeypatch.setattr(Probe, "measure", measured_slowly)
    keras.utils.set_random_seed(0)
    x, y = _data()
    # A probe of 0.5 s foresees a measurement of over 15 s.
    monitor = keras_acts.ActivationMonitor(
        (x, y), freq=2, dynamics_freq=2, dynamics_max_seconds=5.0, warn=False
    )
    _mlp().fit(x, y, batch_size=16, epochs=1, callbacks=[monitor], verbose=0)
    assert bool(monitor.dynamics_history) == measured
    assert (monitor.dynamics_skipped_seconds is None) == measured


def test_diagnose_says_when_it_skipped_the_dynamics(monkeypatch):
    # The module, which the package's `diagnose` function shadows.
    diagnose_module = sys.modules["keras_acts.diagnose"]
    keras.utils.set_random_seed(0)
    x, y = _data()
    text = str(keras_acts.diagnose(_mlp(), x, y, steps=4, verbose=False))
    assert "not measured" not in text
    monkeypatch.setattr(diagnose_module, "DYNAMICS_MAX_SECONDS", 1e-9)
    diagnosis = keras_acts.diagnose(_mlp(), x, y, steps=4, verbose=False)
    assert diagnosis.activations.dynamics_history == []
    assert "Curvature and gradient noise were not measured" in str(diagnosis)
    assert "over the 1e-09 s allowed" in str(diagnosis)


def test_time_budget_spaces_measurements_by_their_cost():
    now = [0.0]
    budget = TimeBudget(0.05, clock=lambda: now[0])
    assert budget.due()  # nothing expected: the first at once
    budget.expect(1.0)
    assert not budget.due()
    now[0] += 20.0  # 5% of 20 s pays for the expected 1 s
    assert budget.due()

    def measurement():
        now[0] += 2.0  # it takes 2 s
        return "measured"

    assert budget.measure(measurement) == "measured"
    budget.expect(0.1)  # an expectation no longer counts once measured
    # 2 s at 5% of the time between: due again 40 s after it ended.
    now[0] += 39.0
    assert not budget.due()
    now[0] += 1.0
    assert budget.due()
    assert budget.time(lambda: now.__setitem__(0, now[0] + 3.0)) == 3.0


def test_auto_waits_until_the_fit_has_paid_for_a_measurement():
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _mlp()
    monitor = keras_acts.ActivationMonitor((x, y), warn=False)
    model.fit(x, y, batch_size=8, epochs=3, callbacks=[monitor], verbose=0)
    # A few tiny steps pay for no measurement at 2% of their time.
    assert monitor.dynamics_history == []


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"dynamics_freq": "epoch"}, "dynamics_freq"),
        ({"dynamics_freq": 0}, "dynamics_freq"),
        ({"dynamics_freq": True}, "dynamics_freq"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"dynamics_max_seconds": 0}, "dynamics_max_seconds"),
        ({"dynamics_max_seconds": -1.0}, "dynamics_max_seconds"),
        ({"dynamics_max_seconds": math.nan}, "dynamics_max_seconds"),
        ({"dynamics_max_seconds": "2"}, "dynamics_max_seconds"),
    ],
)
def test_bad_arguments(arguments, message):
    x, y = _data()
    with pytest.raises(ValueError, match=message):
        keras_acts.ActivationMonitor((x, y), **arguments)


def test_no_noise_scale_where_the_probe_cannot_tell_signal_from_noise():
    # At the least-squares fit the mean gradient is 0: whatever the spread
    # of the examples' gradients, there is no signal to measure against,
    # as in a vanished or dead layer.
    model, x, y = _linear_regression()
    design = np.concatenate([x, np.ones((len(x), 1), "float32")], axis=1)
    solution = np.linalg.lstsq(design, y, rcond=None)[0].astype("float32")
    model.layers[0].kernel.assign(solution[:3])
    model.layers[0].bias.assign(solution[3])
    measured = DynamicsProbe(model, model, (x, y, None), batch_size=2).measure()
    assert measured["noise_scale"] == {model.layers[0].name: None, "(global)": None}


def test_measurements_add_no_warning():
    # A measurement converts many tensors and reads the optimizer: numpy 2
    # warns for each TensorFlow or PyTorch tensor converted without
    # keras_acts's own conversion (and Keras's get_config converts one).
    # The fit itself warns the same with or without the measurements.
    x, y = _data()

    class BatchEnds(keras.callbacks.Callback):
        # A batch-end hook keeps Keras's batch ends in this thread, where the
        # warnings they give (PyTorch's, each step) are all caught.
        def on_train_batch_end(self, batch, logs=None):
            pass

    def messages(dynamics_freq):
        keras.utils.set_random_seed(0)
        monitor = keras_acts.ActivationMonitor(
            (x, y), dynamics_freq=dynamics_freq, warn=False
        )
        callbacks = [monitor, BatchEnds()]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _mlp().fit(x, y, batch_size=16, epochs=1, callbacks=callbacks, verbose=0)
        return monitor, sorted(str(w.message) for w in caught)

    measured, with_measurements = messages(2)
    assert len(measured.dynamics_history) == 2
    assert with_measurements == messages(None)[1]
