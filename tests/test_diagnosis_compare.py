"""`keras_acts.diagnose(..., compare_with=...)` and `Diagnosis.compare`:
what an activation swap by `replace_activations` resolved, what it caused,
and both models set back."""

import sys

import keras
import numpy as np
import pytest

import keras_acts

STEPS = 16


def swapped(activation, **dense_kwargs):
    """A 4-feature regression, an MLP of `activation` (hidden layers h1...),
    and its copy with ReLU layers in place of `activation`."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    y = x[:, :1] * x[:, 1:2]
    hidden = [
        keras.layers.Dense(8, activation, name=f"h{i}", **dense_kwargs)
        for i in range(1, 7)
    ]
    model = keras.Sequential(
        [keras.Input((4,)), *hidden, keras.layers.Dense(1, name="out")], name="net"
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    relu = keras_acts.replace_activations(model, activation, keras.layers.ReLU)
    return model, relu, x, y


def kinds_and_layers(flags):
    return [(flag.kind, flag.layer) for flag in flags]


def state(model):
    """The model's weights and its optimizer's variables, as arrays."""
    return [
        keras.ops.convert_to_numpy(v)
        for v in model.weights + list(model.optimizer.variables)
    ]


def test_relu_in_place_of_deep_sigmoids_resolves_the_vanishing_gradients():
    model, relu, x, y = swapped("sigmoid")
    model.fit(x, y, epochs=1, verbose=0)  # optimizer state to be kept
    kept = {"model": state(model), "relu": state(relu)}
    diagnosis = keras_acts.diagnose(
        relu, x, y, steps=STEPS, verbose=False, compare_with=model
    )
    changes = diagnosis.changes
    assert changes.earlier == "net"
    resolved = dict(kinds_and_layers(changes.resolved))
    assert "vanishing" in resolved
    assert "vanishing" not in {flag.kind for flag in diagnosis.flags}
    assert changes.persisting == [] and changes.new == diagnosis.flags
    # The Dense layers keep their names, so their numbers are compared; the
    # vanishing layer's gradient grew by orders of magnitude.
    before, now = changes.numbers[resolved["vanishing"]]["relative_gradient"]
    assert now > 100 * before
    assert changes.numbers["out"]["relative_gradient"] == (1.0, 1.0)
    text = str(diagnosis)
    assert text.startswith(f"keras_acts.diagnose: {STEPS} training steps")
    section = text.split("\n", 1)[1]
    assert section.startswith(
        f"Compared with model 'net': {len(changes.resolved)} resolved, 0 new, "
        "0 persisting.\nResolved:\n"
    )
    assert f"- {resolved['vanishing']}: gradients vanish" in section
    assert f"relative gradient {before:.1e} before, {now:.1e} now" in section
    for name, model_ in (("model", model), ("relu", relu)):
        for was, value in zip(kept[name], state(model_), strict=True):
            np.testing.assert_array_equal(was, value, err_msg=name)


def test_an_earlier_diagnosis_gives_the_changes_the_model_gives(monkeypatch):
    model, relu, x, y = swapped("sigmoid")
    module = sys.modules["keras_acts.diagnose"]
    calls = []

    def recorded(*args, **kwargs):
        calls.append((args, kwargs, diagnose(*args, **kwargs)))
        return calls[-1][-1]

    diagnose = module.diagnose
    monkeypatch.setattr(module, "diagnose", recorded)
    with_model = diagnose(
        relu, x, y, steps=8, batch_size=64, verbose=False, compare_with=model
    )
    # The original model ran on the same data, for as many steps of as many
    # examples.
    ((args, kwargs, before),) = calls
    assert args[0] is model and args[1] is x and args[2] is y
    assert args[3:] == (8, 64, None) and kwargs == {"verbose": False}
    assert with_model.changes == with_model.compare(before)
    with_diagnosis = diagnose(
        relu, x, y, steps=8, batch_size=64, verbose=False, compare_with=before
    )
    for part in ("resolved", "new", "persisting"):
        assert kinds_and_layers(getattr(with_diagnosis.changes, part)) == (
            kinds_and_layers(getattr(with_model.changes, part))
        ), part
    assert with_diagnosis.changes.numbers.keys() == with_model.changes.numbers.keys()
    # Against itself, every flag persists, and every number stays.
    same = before.compare(before)
    assert same.resolved == same.new == [] and same.persisting == before.flags
    vanishing = next(flag for flag in before.flags if flag.kind == "vanishing")
    ratio, _ = same.numbers[vanishing.layer]["relative_gradient"]
    assert (
        f"\nPersisting:\n- {vanishing.layer}: {vanishing.problem} (relative "
        f"gradient {ratio:.1e} before, {ratio:.1e} now)" in str(same)
    )
    # Without compare_with the report is as it always was.
    assert before.changes is None
    assert "Compared with" not in str(before)
    assert str(before).split("\n")[1:] == [f"- {flag}" for flag in before.flags]


def test_relu_in_place_of_saturated_tanh_shows_new_dead_units():
    # Pre-activations far below zero: tanh saturates there but passes a
    # gradient, ReLU is dead.
    model, relu, x, y = swapped(
        "tanh", bias_initializer=keras.initializers.Constant(-4.0)
    )
    diagnosis = keras_acts.diagnose(
        relu, x, y, steps=STEPS, verbose=False, compare_with=model
    )
    new = kinds_and_layers(diagnosis.changes.new)
    # The ReLU layers are new layers, named after the Dense before them; the
    # Dense layers they follow are linear now, and no longer saturate.
    assert ("dead", "h1_re_lu") in new
    assert all(layer.endswith("_re_lu") for kind, layer in new if kind == "dead")
    assert ("saturated", "h1") in kinds_and_layers(diagnosis.changes.resolved)
    section = str(diagnosis).split("\nCompared with model 'net': ", 1)[1]
    assert "\nNew:\n" in section and "\n- h1_re_lu: 100% of units dead" in section


def test_compare_with_must_be_a_model_or_a_diagnosis_that_diagnose_can_run():
    model, relu, x, y = swapped("sigmoid")
    with pytest.raises(ValueError, match="Received: compare_with='net'"):
        keras_acts.diagnose(relu, x, y, steps=8, verbose=False, compare_with="net")
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)], name="other")
    other.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="compare_with, model 'other'") as error:
        keras_acts.diagnose(relu, x, y, steps=8, verbose=False, compare_with=other)
    assert error.value.__cause__ is not None  # Keras's own error, kept
    # compare takes diagnoses only: a model would need data.
    diagnosis = keras_acts.Diagnosis([], None, None, steps=0, model_name="net")
    with pytest.raises(ValueError, match="Received: earlier=<Sequential"):
        diagnosis.compare(model)
