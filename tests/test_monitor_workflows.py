"""GradientMonitor in the workflows of real training: repeated and
interrupted fits, several optimizers, custom training loops, layers passed as
activations, NaN between records, and keras.distribution on JAX."""

import csv
import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from helpers import LEARNING_RATE, ConfiglessAdam, ScaledAdam, data, fit

import keras_acts
from keras_acts import GradientMonitor
from keras_acts.testing import vector_jacobian_product

BACKEND = keras.backend.backend()


def mse_upstream(outputs, y):
    return 2 * (keras.ops.convert_to_numpy(outputs) - y) / y.size


class CountingModel(keras.Sequential):
    """Counts the Python runs of its train_step: traces on TensorFlow and JAX."""

    runs = 0

    def train_step(self, *args, **kwargs):
        CountingModel.runs += 1
        return super().train_step(*args, **kwargs)


def counting_model():
    CountingModel.runs = 0
    model = CountingModel(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh", name="hidden"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")
    return model


def test_keras_acts_layer_passed_as_an_activation():
    x, y = data(samples=8)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                4, activation=keras_acts.PReLU(name="prelu"), name="dense"
            ),
            keras.layers.Dense(2, name="out"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")
    expected = vector_jacobian_product(model, x, mse_upstream(model(x), y))
    monitor = GradientMonitor()
    fit(model, [monitor], x, y)
    (row,) = [r for r in monitor.history if r["variable"] == "alpha"]
    assert row["layer"] == "dense/prelu"
    alpha_path = [p for p in expected if p.endswith("alpha")][0]
    np.testing.assert_allclose(
        row["l2"], np.linalg.norm(expected[alpha_path]), rtol=1e-5
    )


@pytest.mark.skipif(BACKEND == "torch", reason="PyTorch runs the step eagerly.")
def test_repeated_fits_trace_the_recording_step_once():
    x, y = data()
    model = counting_model()
    fit(model, [], x, y)
    plain_function = model.train_function
    after_plain = CountingModel.runs
    fit(model, [GradientMonitor()], x, y)
    after_first_monitor = CountingModel.runs
    assert after_first_monitor > after_plain  # the recording step is traced
    for callbacks in ([GradientMonitor()], [], [GradientMonitor(csv_path=None)]):
        fit(model, callbacks, x, y)
        assert CountingModel.runs == after_first_monitor
        assert model.train_function is plain_function
    # On TensorFlow the period is a variable of the traced step; JAX traces
    # one recording step per freq.
    monitor = GradientMonitor(freq=3)
    fit(model, [monitor], x, y, epochs=2)
    assert sorted({r["step"] for r in monitor.history}) == [12]
    assert (CountingModel.runs == after_first_monitor) == (BACKEND == "tensorflow")


class Interrupt(keras.callbacks.Callback):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            raise self.error


@pytest.mark.skipif(
    BACKEND == "jax", reason="Keras's JAX fit fails after such a fit, unmonitored too"
)
def test_a_monitored_fit_after_one_whose_first_step_raised_records():
    # The recording step's first trace failed half way: reused by the next
    # fit, it failed there (TensorFlow's "Attr 'Toutput_types' ...").
    class Raising(keras.layers.Layer):
        raising = True

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(4, "tanh", name="inner")

        def call(self, x, training=None):
            if self.raising and training:
                raise ArithmeticError("the first fit's step")
            return self.dense(x)

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.out = keras.layers.Dense(2, name="out")
            self.raising = Raising(name="raising")

        def call(self, x, training=None):
            return self.out(self.raising(x, training=training))

    x, y = data()
    model = Net()
    with pytest.raises(ArithmeticError):
        fit(model, GradientMonitor(freq=1), x, y)
    Raising.raising = False
    monitor = GradientMonitor(freq=1)
    fit(model, monitor, x, y)
    assert list(monitor.layer_norms(0)) == ["raising/inner", "out"]


@pytest.mark.parametrize("error", [RuntimeError("a later callback"), KeyboardInterrupt])
def test_after_an_interrupted_fit_the_model_trains_as_if_never_monitored(error):
    x, y = data(samples=32)
    keras.utils.set_random_seed(5)
    model = counting_model()
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    twin.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")
    fit(model, [], x, y)
    fit(twin, [], x, y)
    monitor = GradientMonitor()
    with pytest.raises(type(error) if isinstance(error, Exception) else error):
        fit(model, [monitor, Interrupt(error)], x, y)
    with pytest.raises(type(error) if isinstance(error, Exception) else error):
        fit(twin, [Interrupt(error)], x, y)
    recorded = len(monitor.history)
    assert recorded == 2 * 7  # steps 4 and 5 reached the CSV-less history
    capture = vars(model)[
        keras_acts.callbacks._gradient_capture.GradientCapture.ATTRIBUTE
    ]
    runs_before = CountingModel.runs
    fit(model, [], x, y, epochs=2)
    fit(twin, [], x, y, epochs=2)
    assert "apply" not in vars(model.optimizer)
    assert "train_step" not in vars(model)
    assert capture.channel.received() == []  # no recording work
    if BACKEND != "torch":
        assert CountingModel.runs == runs_before  # the plain traced function
    for ours, theirs in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    assert len(monitor.history) == recorded


class TwoOptimizerModel(keras.Model):
    """GAN style: each half has its own optimizer, held as an attribute; the
    compiled optimizer is never used."""

    def __init__(self):
        super().__init__(name="two_halves")
        self.first = keras.layers.Dense(4, activation="tanh", name="first")
        self.second = keras.layers.Dense(2, name="second")
        self.first_optimizer = keras.optimizers.SGD(LEARNING_RATE)
        self.second_optimizer = keras.optimizers.SGD(LEARNING_RATE)

    def call(self, inputs):
        return self.second(self.first(inputs))

    def train_step(self, data):
        x, y = data
        if BACKEND == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape(persistent=True) as tape:
                loss = keras.ops.mean(keras.ops.square(self(x) - y))
        else:
            import torch

            loss = keras.ops.mean(keras.ops.square(self(x) - y))
        # After the forward pass, which builds the layers on the first trace.
        halves = (
            (self.first_optimizer, self.first.trainable_variables),
            (self.second_optimizer, self.second.trainable_variables),
        )
        if BACKEND == "tensorflow":
            for optimizer, variables in halves:
                optimizer.apply(tape.gradient(loss, variables), variables)
        else:
            every = [v for _, variables in halves for v in variables]
            gradients = torch.autograd.grad(loss, [v.value for v in every])
            for optimizer, variables in halves:
                count = len(variables)
                optimizer.apply(list(gradients[:count]), variables)
                gradients = gradients[count:]
        return {"loss": loss}


@pytest.mark.skipif(
    BACKEND == "jax",
    reason="A JAX train_step is stateless; several optimizers are covered there "
    "by the custom-loop test, through the same capture.",
)
def test_optimizers_held_as_model_attributes_are_all_recorded():
    x, y = data()
    model = TwoOptimizerModel()
    model.compile(optimizer="rmsprop")  # not built: its weights come at fit
    monitor = GradientMonitor()
    fit(model, [monitor], x, y)
    for step in (0, 1):
        layers = monitor.layer_norms(step)
        assert list(layers) == ["first", "second"]
    global_rows = [r for r in monitor.history if r["layer"] == "(global)"]
    assert [r["step"] for r in global_rows] == [0, 1]  # merged, one per step
    layer_rows = [r for r in monitor.history if r["variable"] is None]
    first_row = [r for r in layer_rows if r["layer"] == "first"][0]
    second_row = [r for r in layer_rows if r["layer"] == "second"][0]
    assert global_rows[0]["l2"] == pytest.approx(
        np.hypot(first_row["l2"], second_row["l2"]), rel=1e-6
    )


holds_optimizers = pytest.mark.skipif(
    BACKEND == "jax",
    reason="A JAX train_step is stateless; it holds no optimizers of its own.",
)


def assert_diagnose_after_a_fit_leaves_the_state(model, x, y):
    """Fits `model`, diagnoses it (recording both halves), and checks that
    its weights and both optimizers' states are as the fit left them."""
    fit(model, [], x, y)
    optimizers = (model.first_optimizer, model.second_optimizer)
    weights = model.get_weights()
    states = [[keras.ops.convert_to_numpy(v) for v in o.variables] for o in optimizers]
    diagnosis = keras_acts.diagnose(model, x, y, steps=4, batch_size=8, verbose=False)
    assert {"first", "second"} <= {r["layer"] for r in diagnosis.gradients.history}
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    for optimizer, state in zip(optimizers, states, strict=True):
        for variable, value in zip(optimizer.variables, state, strict=True):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


@holds_optimizers
def test_diagnose_trains_fresh_copies_of_the_optimizers_a_train_step_holds():
    x, y = data(samples=32)
    model = TwoOptimizerModel()
    # The loss is the probe's; the train_step computes its own.
    model.compile(optimizer="rmsprop", loss="mse")
    held = (model.first_optimizer, model.second_optimizer)
    diagnosis = keras_acts.diagnose(model, x, y, steps=4, batch_size=8, verbose=False)
    layers = {r["layer"] for r in diagnosis.gradients.history}
    assert {"first", "second"} <= layers
    # Neither trained nor built: a user's next fit starts them afresh.
    assert (model.first_optimizer, model.second_optimizer) == held
    assert not any(optimizer.built for optimizer in held)
    assert_diagnose_after_a_fit_leaves_the_state(model, x, y)


@holds_optimizers
def test_diagnose_sets_back_a_held_optimizer_that_cannot_be_copied_if_built():
    x, y = data(samples=32)
    model = TwoOptimizerModel()
    model.compile(optimizer="rmsprop", loss="mse")
    # Unbuilt, it could be neither copied nor set back; it is named by the
    # user's attribute, not TensorFlow's tracking dict.
    model._spare_optimizers = [ScaledAdam(2.0)]
    with pytest.raises(ValueError, match=r"`_spare_optimizers\[0\]` \(ScaledAdam\)"):
        keras_acts.diagnose(model, x, y, steps=4, batch_size=8, verbose=False)
    del model._spare_optimizers
    model.first_optimizer = ScaledAdam(2.0, learning_rate=LEARNING_RATE)
    with pytest.raises(
        ValueError, match=r"`first_optimizer` \(ScaledAdam\) could not be made.*scale"
    ):
        keras_acts.diagnose(model, x, y, steps=4, batch_size=8, verbose=False)
    assert not model.first_optimizer.built and not model.second_optimizer.built
    assert_diagnose_after_a_fit_leaves_the_state(model, x, y)
    # Two of them, both trained as they are: each set back.
    model = TwoOptimizerModel()
    model.first_optimizer = ScaledAdam(2.0, learning_rate=LEARNING_RATE)
    model.second_optimizer = ConfiglessAdam(LEARNING_RATE)
    model.compile(optimizer="rmsprop", loss="mse")
    assert_diagnose_after_a_fit_leaves_the_state(model, x, y)


def test_an_unwatched_optimizer_is_named_in_a_warning():
    x, y = data()
    model = TwoOptimizerModel()
    model.compile(optimizer="rmsprop")
    monitor = GradientMonitor(optimizers=[keras.optimizers.SGD()])
    if BACKEND == "jax":
        pytest.skip("TwoOptimizerModel's train_step is stateful.")
    with pytest.warns(RuntimeWarning, match="applied no gradients") as caught:
        fit(model, [monitor], x, y, batch_size=2)  # 8 batches
    assert len([w for w in caught if "GradientMonitor" in str(w.message)]) == 1
    assert monitor.history == []


def squared_error_and_gradients(model, x, y):
    """In a TensorFlow or PyTorch train_step: the mean squared error and its
    gradients by the model's trainable variables."""
    variables = model.trainable_variables
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(model(x) - y))
        return loss, tape.gradient(loss, variables)
    import torch

    loss = keras.ops.mean(keras.ops.square(model(x) - y))
    return loss, torch.autograd.grad(loss, [v.value for v in variables])


class OutsideUpdateModel(keras.Model):
    """Trains without its compiled optimizer: through the `apply` of an
    optimizer it holds only as a bound method (TensorFlow, PyTorch), or by
    hand-written SGD (JAX), so no monitor finds what applies its
    gradients."""

    def __init__(self):
        super().__init__(name="outside_update")
        self.dense = keras.layers.Dense(2)
        self.apply_outside = keras.optimizers.SGD(LEARNING_RATE).apply

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, *args):
        if BACKEND == "jax":
            import jax

            (trainable, non_trainable, optimizer_state, metrics), (x, y) = args

            def loss_of(trainable):
                predictions, _ = self.stateless_call(trainable, non_trainable, x)
                return keras.ops.mean(keras.ops.square(predictions - y))

            loss, gradients = jax.value_and_grad(loss_of)(trainable)
            trainable = [
                v - LEARNING_RATE * g for v, g in zip(trainable, gradients, strict=True)
            ]
            return {"loss": loss}, (trainable, non_trainable, optimizer_state, metrics)
        x, y = args[0]
        variables = self.trainable_variables
        loss, gradients = squared_error_and_gradients(self, x, y)
        self.apply_outside(list(gradients), variables)
        return {"loss": loss}


def test_a_step_that_bypasses_the_watched_optimizer_is_warned_about():
    # The compiled optimizer is watched (and prepared for before the first
    # step), but the step never applies through it: a warning after the
    # first step, and diagnose says it did not measure gradients instead of
    # "no problems found" alone.
    x, y = data()
    model = OutsideUpdateModel()
    model.compile(optimizer="sgd", loss="mse")
    model(x[:1])
    before = [w.copy() for w in model.get_weights()]
    monitor = GradientMonitor()
    with pytest.warns(RuntimeWarning, match="applied no gradients") as caught:
        fit(model, [monitor], x, y, batch_size=4)
    assert len([w for w in caught if "GradientMonitor" in str(w.message)]) == 1
    assert monitor.history == []
    assert not np.allclose(before[0], model.get_weights()[0])
    # A later fit reuses the traced step (TensorFlow, JAX): warned again.
    with pytest.warns(RuntimeWarning, match="applied no gradients") as caught:
        fit(model, [monitor], x, y, batch_size=4)
    assert len([w for w in caught if "GradientMonitor" in str(w.message)]) == 1
    with pytest.warns(RuntimeWarning, match="applied no gradients"):
        diagnosis = keras_acts.diagnose(
            model, x, y, steps=2, batch_size=4, verbose=False
        )
    assert "Gradients were not measured" in str(diagnosis)
    assert diagnosis.compare(diagnosis).new == []  # no gradient norms to compare


class EverySecondStepModel(keras.Model):
    """Applies its gradients through its compiled optimizer on every second
    step only, as a step run eagerly may."""

    def __init__(self):
        super().__init__(name="every_second_step")
        self.dense = keras.layers.Dense(2)
        self.steps_run = 0

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        x, y = data
        self.steps_run += 1
        variables = self.trainable_variables
        loss, gradients = squared_error_and_gradients(self, x, y)
        if self.steps_run % 2 == 0:
            self.optimizer.apply(list(gradients), variables)
        return {"loss": loss}


def fit_without_runtime_warnings(model, monitor, x, y):
    """A fit in batches of 4 in which no RuntimeWarning (the monitor's
    "applied no gradients") may be given."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit(model, [monitor], x, y, batch_size=4)


class SometimesOutsideModel(EverySecondStepModel):
    """Applies through its compiled optimizer, or, once `outside` is set,
    around it."""

    outside = False

    def train_step(self, data):
        x, y = data
        variables = self.trainable_variables
        loss, gradients = squared_error_and_gradients(self, x, y)
        if self.outside:
            for variable, gradient in zip(variables, gradients, strict=True):
                variable.assign(variable - LEARNING_RATE * gradient)
        else:
            self.optimizer.apply(list(gradients), variables)
        return {"loss": loss}


def test_later_fits_that_reuse_the_traced_step_are_not_warned_about():
    # The step applies only when it is traced (TensorFlow, JAX), in the
    # first fit; the later fits apply all the same.
    x, y = data()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    monitor = GradientMonitor(freq=1, append=True)
    for _ in range(3):
        fit_without_runtime_warnings(model, monitor, x, y)
    assert sorted({r["step"] for r in monitor.history}) == list(range(12))


@pytest.mark.skipif(BACKEND == "jax", reason="A JAX train_step is traced, not run.")
def test_steps_run_eagerly_are_judged_by_what_each_fit_applies():
    # Its first step applies nothing: the check waits for the epoch's end.
    x, y = data()
    model = EverySecondStepModel()
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    monitor = GradientMonitor(freq=1)
    fit_without_runtime_warnings(model, monitor, x, y)
    assert len(monitor.history) > 0
    # An earlier fit that applied says nothing of a later one that does not.
    model = SometimesOutsideModel()
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    fit_without_runtime_warnings(model, monitor, x, y)
    model.outside = True
    with pytest.warns(RuntimeWarning, match="applied no gradients"):
        fit(model, [monitor], x, y, batch_size=4)


def test_a_model_with_no_trainable_weights_is_warned_about_at_its_first_step():
    x, y = data()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    monitor = GradientMonitor()
    with pytest.warns(RuntimeWarning, match="has no trainable weights") as caught:
        fit(model, [monitor], x, y, batch_size=4)
    assert len([w for w in caught if "GradientMonitor" in str(w.message)]) == 1
    assert monitor.history == []


def test_no_optimizer_is_a_clear_error():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="found no optimizer"):
        with GradientMonitor().attach(model):
            pass
    with pytest.raises(ValueError, match="optimizers"):
        GradientMonitor(optimizers=["sgd"])
    with pytest.raises(ValueError, match='freq="epoch"'):
        with GradientMonitor(freq="epoch").attach(model, keras.optimizers.SGD()):
            pass


def custom_loop_step(model, optimizers):
    """One training step of a custom loop on the current backend: the mean
    squared error, its gradients, and each optimizer's apply on its half."""
    halves = [
        (optimizer, model.layers[i].trainable_variables)
        for i, optimizer in enumerate(optimizers)
    ]
    if len(optimizers) == 1:
        halves = [(optimizers[0], model.trainable_variables)]
    every = [v for _, variables in halves for v in variables]

    def split(gradients):
        gradients = list(gradients)
        for optimizer, variables in halves:
            yield optimizer, gradients[: len(variables)], variables
            gradients = gradients[len(variables) :]

    if BACKEND == "tensorflow":
        import tensorflow as tf

        def step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            for optimizer, gradients, variables in split(tape.gradient(loss, every)):
                optimizer.apply(gradients, variables)

        return step
    if BACKEND == "torch":
        import torch

        def step(x, y):
            loss = torch.mean(torch.square(model(torch.tensor(x)) - torch.tensor(y)))
            gradients = torch.autograd.grad(loss, [v.value for v in every])
            for optimizer, gradients_, variables in split(gradients):
                optimizer.apply(gradients_, variables)

        return step
    import jax

    for optimizer, variables in halves:
        optimizer.build(variables)

    def loss_of(values, x, y):
        mapping = list(zip(every, values, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            return keras.ops.mean(keras.ops.square(model(x) - y))

    @jax.jit
    def jitted(values, optimizer_values, x, y):
        gradients = jax.grad(loss_of)(values, x, y)
        new_values, new_optimizer_values = [], []
        for (optimizer, gradients_, _), own_values, own_optimizer_values in zip(
            split(gradients),
            split_values(values),
            optimizer_values,
            strict=True,
        ):
            trained, state = optimizer.stateless_apply(
                own_optimizer_values, gradients_, own_values
            )
            new_values += trained
            new_optimizer_values.append(state)
        return new_values, new_optimizer_values

    def split_values(values):
        values = list(values)
        for _, variables in halves:
            yield values[: len(variables)]
            values = values[len(variables) :]

    def step(x, y):
        values = [v.value for v in every]
        optimizer_values = [[v.value for v in o.variables] for o, _ in halves]
        new_values, new_optimizer_values = jitted(values, optimizer_values, x, y)
        for variable, value in zip(every, new_values, strict=True):
            variable.assign(value)
        for (optimizer, _), values_ in zip(halves, new_optimizer_values, strict=True):
            for variable, value in zip(optimizer.variables, values_, strict=True):
                variable.assign(value)

    return step


def expected_layer_norms(model, x, y, steps, batch_size=8):
    """Per step, each layer's gradient norm under plain SGD on the mean
    squared error, on a copy of the model."""
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    norms = []
    for step in range(steps):
        start = (step * batch_size) % len(x)
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        upstream = 2 * (keras.ops.convert_to_numpy(twin(xb)) - yb) / yb.size
        gradients = vector_jacobian_product(twin, xb, upstream)
        norms.append(
            {
                layer.name: np.sqrt(
                    sum(
                        np.sum(gradients[v.path] ** 2)
                        for v in layer.trainable_variables
                    )
                )
                for layer in twin.layers
            }
        )
        for variable in twin.trainable_variables:
            variable.assign(variable - LEARNING_RATE * gradients[variable.path])
    return norms


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("optimizer_count", [1, 2])
def test_custom_training_loop_with_attach(traced, optimizer_count):
    if traced and BACKEND != "tensorflow":
        pytest.skip("Traced and eager differ on TensorFlow only.")
    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh", name="hidden"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    expected = expected_layer_norms(model, x, y, steps=5)
    optimizers = [keras.optimizers.SGD(LEARNING_RATE) for _ in range(optimizer_count)]
    step = custom_loop_step(model, optimizers)
    if traced:
        import tensorflow as tf

        step = tf.function(step)
    monitor = GradientMonitor(freq=2)
    with monitor.attach(model, optimizers):
        for index in range(5):
            start = (index * 8) % len(x)
            step(x[start : start + 8], y[start : start + 8])
    assert "apply" not in vars(optimizers[0])
    global_rows = [r for r in monitor.history if r["layer"] == "(global)"]
    assert [r["step"] for r in global_rows] == [0, 2, 4]
    for row in global_rows:
        norms = monitor.layer_norms(row["step"])
        assert list(norms) == ["hidden", "out"]
        for layer, norm in norms.items():
            assert norm == pytest.approx(expected[row["step"]][layer], rel=1e-5)


def test_a_custom_loop_reads_a_subclassed_model_in_the_order_it_calls_its_layers():
    class OutFirst(keras.Model):
        def __init__(self):
            super().__init__()
            self.out = keras.layers.Dense(2, name="out")
            self.hidden = keras.layers.Dense(4, activation="tanh", name="hidden")

        def call(self, x):
            return self.out(self.hidden(x))

    x, y = data()
    model = OutFirst()
    model(x[:1])
    optimizer = keras.optimizers.SGD(LEARNING_RATE)
    step = custom_loop_step(model, [optimizer])
    monitor = GradientMonitor(freq=1)
    with monitor.attach(model, optimizer):
        for index in range(2):
            step(x[index * 8 : index * 8 + 8], y[index * 8 : index * 8 + 8])
        if BACKEND != "jax":  # whose jitted step runs the Python once
            # Learned once a whole step ran (at the second step's apply):
            # the noting calls are off for the rest of the loop.
            assert "call" not in vars(model.out)
    assert list(monitor.layer_norms(0)) == ["hidden", "out"]
    assert "call" not in vars(model.out) and "call" not in vars(model.hidden)


def test_two_models_sharing_a_layer_in_one_loop_leave_nothing_on_it():
    # Both monitors note the shared layer, the second over the first, and
    # the first stops noting first.
    shared = keras.layers.Dense(4, activation="tanh", name="shared")

    class Net(keras.Model):
        def __init__(self, name):
            super().__init__(name=name)
            self.out = keras.layers.Dense(2, name="out")
            self.shared = shared

        def call(self, x):
            return self.out(self.shared(x))

    x, y = data()
    models = [Net("a"), Net("b")]
    optimizers = [keras.optimizers.SGD(LEARNING_RATE) for _ in models]
    steps = []
    for model, optimizer in zip(models, optimizers, strict=True):
        model(x[:1])
        steps.append(custom_loop_step(model, [optimizer]))
    monitors = [GradientMonitor(freq=1) for _ in models]
    with monitors[0].attach(models[0], optimizers[0]):
        with monitors[1].attach(models[1], optimizers[1]):
            for _ in range(3):
                for step in steps:
                    step(x[:8], y[:8])
    assert "call" not in vars(shared)
    for monitor in monitors:
        assert list(monitor.layer_norms(0))[-1] == "out"


@pytest.mark.tensorflow_only
def test_a_step_that_applies_before_calling_every_layer_is_read_in_call_order():
    # The critic is updated before the generator is first called: the order
    # is learned when the whole step has run, not at the first apply.
    import tensorflow as tf

    def net(name, outputs):
        class Net(keras.Model):
            def __init__(self):
                super().__init__(name=name)
                self.out = keras.layers.Dense(outputs, name=f"{name}_out")
                self.hidden = keras.layers.Dense(8, "tanh", name=f"{name}_hidden")

            def call(self, x):
                return self.out(self.hidden(x))

        return Net()

    class CriticFirst(keras.Model):
        def __init__(self):
            super().__init__()
            self.generator, self.critic = net("gen", 3), net("critic", 1)
            self.generator_optimizer = keras.optimizers.SGD(LEARNING_RATE)
            self.critic_optimizer = keras.optimizers.SGD(LEARNING_RATE)

        def call(self, z):
            return self.critic(self.generator(z))

        def train_step(self, data):
            x, _ = data
            critic = self.critic.trainable_variables
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(self.critic(x))
            self.critic_optimizer.apply(tape.gradient(loss, critic), critic)
            generator = self.generator.trainable_variables
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(self(x))
            self.generator_optimizer.apply(tape.gradient(loss, generator), generator)
            return {"loss": loss}

    x, y = data()
    model = CriticFirst()
    model(x[:1])
    model.compile()
    monitor = GradientMonitor(
        freq=1, optimizers=[model.critic_optimizer, model.generator_optimizer]
    )
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[monitor])
    assert list(monitor.layer_norms(0)) == [
        "critic/critic_hidden",
        "critic/critic_out",
        "gen/gen_hidden",
        "gen/gen_out",
    ]


def test_nan_between_records_is_reported_at_the_next_record():
    x, y = data(samples=12)
    y[5] = np.nan  # batch size 1: step 5
    model = counting_model()
    with pytest.raises(FloatingPointError, match="non-finite weights .* at step 8"):
        fit(model, [GradientMonitor(freq=4, on_nonfinite="raise")], x, y, batch_size=1)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution is JAX's")
def test_data_parallel_on_two_jax_devices_records_the_one_device_values():
    code = textwrap.dedent(
        """
        import json
        import keras, numpy as np, keras_acts, jax
        assert len(jax.devices()) == 2
        rng = np.random.default_rng(0)
        x = rng.normal(size=(32, 3)).astype("float32")
        y = rng.normal(size=(32, 2)).astype("float32")
        def run(distribution):
            keras.distribution.set_distribution(distribution)
            keras.utils.set_random_seed(1)
            model = keras.Sequential([
                keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                keras.layers.Dense(2),
            ])
            model.compile(keras.optimizers.SGD(0.1), "mse")
            monitor = keras_acts.GradientMonitor(freq=2)
            model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                      callbacks=[monitor])
            keras.distribution.set_distribution(None)
            return monitor.to_dataframe()
        one, two = run(None), run(keras.distribution.DataParallel())
        print(json.dumps({
            "steps": sorted(set(two.step)),
            "rows": [len(one), len(two)],
            "difference": float(np.max(np.abs(two.l2.values - one.l2.values)
                                       / one.l2.values)),
        }))
        """
    )
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    import json

    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["steps"] == [0, 2, 4, 6]
    assert report["rows"][0] == report["rows"][1] == 4 * 7
    assert report["difference"] < 1e-5


def test_warnings_name_the_line_that_called_fit():
    """Warnings from callback hooks, several calls below `fit` (a depth that
    differs by backend), name the user's line, which `warnings` filters by
    module and pytest reports; a fixed stacklevel named lines in keras_acts
    or Keras."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential(
        [keras.Input((8,))]
        + [keras.layers.Dense(16, activation="sigmoid") for _ in range(10)]
        + [keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    monitors = [GradientMonitor(freq=1), keras_acts.ActivationMonitor(x[:32])]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=monitors)
        fit_line = sys._getframe().f_lineno - 1
        model.evaluate(x, y, verbose=0, callbacks=[GradientMonitor()])
        evaluate_line = sys._getframe().f_lineno - 1
    diagnoses = [w for w in caught if w.category is keras_acts.DiagnosisWarning]
    assert {str(w.message).split(":")[0] for w in diagnoses} == {
        "GradientMonitor",
        "ActivationMonitor",
    }
    outside_fit = [w for w in caught if "does nothing in evaluate" in str(w.message)]
    assert len(outside_fit) == 1
    for warning, line in [(w, fit_line) for w in diagnoses] + [
        (outside_fit[0], evaluate_line)
    ]:
        assert (warning.filename, warning.lineno) == (__file__, line)
    # At the exit of an `attach` block, through contextlib: the loop applies
    # an optimizer other than the one attached.
    attached = keras.optimizers.SGD()
    attached.build(model.trainable_variables)
    step = custom_loop_step(model, [keras.optimizers.SGD(LEARNING_RATE)])
    with pytest.warns(RuntimeWarning, match="recorded nothing") as caught:
        with GradientMonitor().attach(model, attached):
            step(x[:8], y[:8])
    assert caught[0].filename == __file__


def test_monitors_outside_fit_say_they_do_nothing():
    x, y = data()
    model = counting_model()
    monitor = GradientMonitor()
    fit(model, [monitor], x, y)
    with pytest.warns(RuntimeWarning, match=r"does nothing in evaluate\(\)"):
        model.evaluate(x, y, verbose=0, callbacks=[monitor])
    with pytest.warns(RuntimeWarning, match=r"does nothing in predict\(\)"):
        model.predict(x, verbose=0, callbacks=[monitor])
    # fit's own validation runs evaluate with the same callbacks: no warning.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(
            x, y, validation_data=(x, y), verbose=0, callbacks=[GradientMonitor()]
        )


def test_one_csv_file_per_monitor(tmp_path):
    x, y = data()
    path = tmp_path / "rows.csv"
    with pytest.raises(ValueError, match="already being written by another monitor"):
        fit(
            counting_model(),
            [GradientMonitor(csv_path=path), GradientMonitor(csv_path=path)],
            x,
            y,
        )
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("epoch,loss\n0,1.0\n")
    with pytest.raises(
        ValueError, match=r"whose columns are others: \['epoch', 'loss'\]"
    ):
        fit(counting_model(), [GradientMonitor(csv_path=foreign, append=True)], x, y)
    assert foreign.read_text() == "epoch,loss\n0,1.0\n"


def test_plot_refuses_a_single_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monitor = GradientMonitor()
    fit(counting_model(), [monitor], *data())
    _, single = plt.subplots()
    with pytest.raises(ValueError, match="`axes` must be 2 matplotlib Axes"):
        monitor.plot(axes=single)
    plt.close("all")


# Issue #28: an interrupted fit leaves the model and its optimizer as they
# were, with the records of every step that ran.
class FailAt(keras.callbacks.Callback):
    def __init__(self, error, batch, hook="on_train_batch_end"):
        super().__init__()
        self.error, self.batch = error, batch
        setattr(self, hook, self._maybe_fail)

    def _maybe_fail(self, batch, logs=None):
        if batch == self.batch:
            raise self.error


def assert_unwrapped(model, plain_function):
    assert "apply" not in vars(model.optimizer)
    assert "train_step" not in vars(model)
    assert "make_train_function" not in vars(model)
    assert model.train_function is plain_function


@pytest.mark.parametrize("hook", ["on_train_batch_end", "on_train_batch_begin"])
@pytest.mark.parametrize("error", [RuntimeError("a callback"), KeyboardInterrupt()])
def test_a_fit_stopped_by_a_callback_keeps_every_step_and_unwraps(
    tmp_path, error, hook
):
    x, y = data(samples=48)
    model = small_model()
    fit(model, [], x, y)  # the plain train function
    plain_function = model.train_function
    start = int(model.optimizer.iterations)
    path = tmp_path / "gradients.csv"
    monitor = GradientMonitor(csv_path=path)
    # The monitor after the failing callback: its batch hooks never run for
    # the failing batch.
    with pytest.raises(type(error)):
        fit(model, [FailAt(error, 2, hook), monitor], x, y)
    ran = int(model.optimizer.iterations) - start
    assert ran == (3 if hook == "on_train_batch_end" else 2)
    expected = list(range(start, start + ran))
    assert sorted({r["step"] for r in monitor.history}) == expected
    with open(path, newline="") as file:
        assert sorted({int(r["step"]) for r in csv.DictReader(file)}) == expected
    if hook == "on_train_batch_end":
        assert_unwrapped(model, plain_function)
    else:
        # Stopped between the monitor's batch begin and the step: only the
        # train function waits there, and gives way at its next call.
        assert "apply" not in vars(model.optimizer)
        assert "train_step" not in vars(model)
    # The next fit, with another monitor: the stopped one records no more.
    after = GradientMonitor(freq=2)
    fit(model, [after], x, y)
    assert_unwrapped(model, plain_function)
    assert len({r["step"] for r in monitor.history}) == ran
    next_start = start + ran
    assert global_steps(after) == [
        s for s in range(next_start, next_start + 6) if s % 2 == 0
    ]
    fit(model, [], x, y)
    assert_unwrapped(model, plain_function)
    assert len({r["step"] for r in monitor.history}) == ran


def test_a_step_that_raises_leaves_the_optimizer_unwrapped(monkeypatch):
    x, y = data(samples=32)
    model = small_model()
    fit(model, [], x, y)
    plain_function = model.train_function
    optimizer_class = type(model.optimizer)

    def interrupted(self, grads, trainable_variables=None):
        raise KeyboardInterrupt

    # The optimizer's own apply is interrupted inside the step.
    monkeypatch.setattr(optimizer_class, "apply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(model, GradientMonitor(), x, y)
    monkeypatch.undo()
    assert_unwrapped(model, plain_function)


def small_model():
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh", name="hidden"),
            keras.layers.Dense(2, name="out"),
        ]
    )


def test_attach_errors_name_the_users_argument():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(
        ValueError, match=r"optimizer instance.*Received: optimizers=.sgd. of type str"
    ):
        with GradientMonitor().attach(model, "sgd"):
            pass
    with pytest.raises(
        ValueError, match=r"must be a keras.Model. Received: model=None"
    ):
        with GradientMonitor().attach(None, model.optimizer):
            pass
    loss = keras.losses.MeanSquaredError()
    with pytest.raises(ValueError, match=r"optimizer instance.*MeanSquaredError"):
        with GradientMonitor().attach(model, loss):
            pass
    with pytest.raises(ValueError, match=r"Received: optimizers=\['sgd'\]"):
        GradientMonitor(optimizers=["sgd"])
    assert "apply" not in vars(model.optimizer)


# Issue #28: several monitors, each on its own schedule.
def global_steps(monitor):
    return [r["step"] for r in monitor.history if r["layer"] == "(global)"]


@pytest.mark.parametrize(
    "freqs, expected",
    [
        ((1, 2), ([0, 1, 2, 3], [0, 2])),
        ((2, 3), ([0, 2], [0, 3])),
        (("epoch", 3), ([0, 2], [0, 3])),
        (("epoch", "epoch"), ([0, 2], [0, 2])),
    ],
)
def test_several_monitors_in_one_fit_each_record_their_schedule(freqs, expected):
    x, y = data()
    model = small_model()
    monitors = [GradientMonitor(freq=freq) for freq in freqs]
    fit(model, monitors, x, y, epochs=2)  # 4 steps, 2 per epoch
    assert [global_steps(m) for m in monitors] == list(expected)
    # The same records: the statistics of a step agree across monitors.
    shared = set(global_steps(monitors[0])) & set(global_steps(monitors[1]))
    for step in shared:
        assert monitors[0].layer_norms(step) == monitors[1].layer_norms(step)
    assert "apply" not in vars(model.optimizer)
    # Each alone afterwards, and a plain fit, as before.
    alone = GradientMonitor(freq=2)
    fit(model, [alone], x, y, epochs=2)
    assert global_steps(alone) == [4, 6]


def test_several_monitors_with_csv_files(tmp_path):
    x, y = data()
    model = small_model()
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    monitors = [
        GradientMonitor(csv_path=paths[0]),
        GradientMonitor(2, csv_path=paths[1]),
    ]
    fit(model, monitors, x, y, epochs=2)
    for path, steps in zip(paths, ([0, 1, 2, 3], [0, 2]), strict=True):
        with open(path, newline="") as file:
            rows = [r for r in csv.DictReader(file) if r["layer"] == "(global)"]
        assert [int(r["step"]) for r in rows] == steps


def test_several_monitors_attached_to_one_optimizer_in_a_custom_loop():
    x, y = data()
    model = small_model()
    optimizer = keras.optimizers.SGD(LEARNING_RATE)
    step = custom_loop_step(model, [optimizer])
    outer, inner, same = GradientMonitor(), GradientMonitor(freq=2), GradientMonitor()

    def run(steps):
        for _ in range(steps):
            step(x[:8], y[:8])

    with outer.attach(model, optimizer), same.attach(model, [optimizer]):
        run(1)  # step 0
        with inner.attach(model, optimizer), same.attach(model):
            run(4)  # steps 1 to 4
        run(2)  # steps 5 and 6: after the inner blocks
    assert global_steps(outer) == list(range(7))
    assert global_steps(same) == list(range(7))
    assert global_steps(inner) == [2, 4]
    for s in (2, 4):
        assert inner.layer_norms(s) == outer.layer_norms(s)
    assert "apply" not in vars(optimizer)


def test_monitors_of_one_model_with_other_optimizers_is_a_clear_error():
    model = small_model()
    first, second = keras.optimizers.SGD(), keras.optimizers.SGD()
    for optimizer in (first, second):
        optimizer.build(model.trainable_variables)
    recording = GradientMonitor(freq=3)
    with recording.attach(model, first):
        with pytest.raises(ValueError, match=r"another GradientMonitor \(freq=3"):
            with GradientMonitor().attach(model, second):
                pass
        with pytest.raises(ValueError, match="already attached to model"):
            with recording.attach(model, second):
                pass
        with pytest.raises(ValueError, match="call fit outside that block"):
            fit(model, recording, *data())
    assert "apply" not in vars(first)


def test_attach_warns_when_the_loop_applies_another_optimizer():
    x, y = data()
    model = small_model()
    used, attached = keras.optimizers.SGD(LEARNING_RATE), keras.optimizers.SGD()
    model.unused_optimizer = attached
    step = custom_loop_step(model, [used])
    model.used_optimizer = used
    attached.build(model.trainable_variables)
    monitor = GradientMonitor()
    with pytest.warns(RuntimeWarning, match="recorded nothing in its `attach` block"):
        with monitor.attach(model, attached):
            step(x[:8], y[:8])
    assert monitor.history == []
    # An optimizer the model does not hold: the weights changed all the same.
    del model.used_optimizer
    with pytest.warns(RuntimeWarning, match="The weights changed"):
        with monitor.attach(model, attached):
            step(x[:8], y[:8])
    # No warning when the attached optimizer applies, even without a due step
    # (a step traced inside the block: a jax.jit traced before records
    # nothing, and warns).
    step = custom_loop_step(model, [used])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with GradientMonitor(freq=100).attach(model, used):
            step(x[:8], y[:8])


# Issue #28: a second fit with the same monitor keeps that fit's steps only,
# as Keras's History does; append=True keeps every fit's.
@pytest.mark.parametrize("append", [False, True])
@pytest.mark.parametrize("kind", ["gradients", "activations"])
def test_a_second_fit_starts_a_new_history_unless_append(tmp_path, kind, append):
    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="relu", name="hidden"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    path = tmp_path / "rows.csv"
    if kind == "gradients":
        monitor = GradientMonitor(csv_path=path, append=append)
    else:
        monitor = keras_acts.ActivationMonitor(x, freq=1, csv_path=path, append=append)
    fit(model, monitor, x, y)  # steps 0 and 1
    fit(model, monitor, x, y)  # steps 2 and 3
    expected = [0, 1, 2, 3] if append else [2, 3]
    if kind == "activations":
        expected = [0, 1, 2, 3, 4] if append else [2, 3, 4]  # and the last
    assert sorted({r["step"] for r in monitor.history}) == expected
    with open(path, newline="") as file:
        assert sorted({int(r["step"]) for r in csv.DictReader(file)}) == expected
