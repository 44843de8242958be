"""One home for diagnosis (keras_acts.callbacks._rules): both monitors'
`flags()`, the marks of their summary tables, the live warnings and the
report of `diagnose` all come from the rules' findings, so they agree."""

import pathlib
import warnings

import keras
import numpy as np
import pytest

import keras_acts
from keras_acts.callbacks import _rules
from keras_acts.diagnosis import Diagnosis, report

DOCS = pathlib.Path(__file__).parent.parent / "docs"


def marked(summary: str, numeric_columns: int) -> dict[str, list[str]]:
    """`{layer: marks}` of a summary table: the marks follow the layer's
    name and its `numeric_columns` values."""
    table = summary.split("\nProblems")[0].splitlines()[2:]
    marks = {}
    for line in table:
        words = line.split()
        text = " ".join(words[1 + numeric_columns :])
        marks[words[0]] = text.split(", ") if text else []
    return marks


def activation_fit(model, x, y, epochs=3, **monitor_kwargs):
    monitor = keras_acts.ActivationMonitor((x, y), warn=False, **monitor_kwargs)
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[monitor])
    return monitor


def data(samples=64, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype("float32")
    return x, (x[:, :1] * x[:, 1:2]).astype("float32")


def test_a_relu_layer_far_from_zero_mean_is_neither_marked_nor_flagged():
    # The reviewer's case: a large positive bias puts a ReLU layer's mean
    # above its spread. Centering is judged for sigmoid-like layers only, so
    # nothing is wrong here, and neither the table nor the report says so.
    keras.utils.set_random_seed(0)
    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                8, "relu", bias_initializer=keras.initializers.Constant(3.0)
            ),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    monitor = activation_fit(model, x, y, epochs=1)
    row = monitor.history[-1]
    assert abs(row["mean"]) > row["std"]  # the case is the reviewer's
    assert monitor.flags() == []
    summary = monitor.summary()
    assert all(marks == [] for marks in marked(summary, 6).values())
    assert summary.endswith("Problems: no problems found.")


def test_a_softmax_output_is_neither_marked_nor_flagged_as_saturated():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(64, 4)).astype("float32") * 20
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, "tanh", name="hidden"),
            keras.layers.Dense(
                2,
                "softmax",
                kernel_initializer=keras.initializers.RandomNormal(stddev=10.0),
                name="out",
            ),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    monitor = activation_fit(model, x, y)
    out = [row for row in monitor.history if row["layer"] == "out"][-1]
    assert out["saturated_fraction"] > _rules.FLAG_SATURATED  # confident
    assert "out" not in {flag.layer for flag in monitor.flags()}
    assert marked(monitor.summary(), 6)["out"] == []


def dead_relu_model():
    """Two ReLU layers killed by a negative bias, behind a sigmoid layer."""
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, "sigmoid", name="gate"),
            keras.layers.Dense(
                8, "relu", bias_initializer=keras.initializers.Constant(-10.0)
            ),
            keras.layers.Dense(
                8, "relu", bias_initializer=keras.initializers.Constant(-10.0)
            ),
            keras.layers.Dense(1, name="out"),
        ]
    )


def deep_sigmoid_model(depth=7):
    hidden = [keras.layers.Dense(8, "sigmoid", name=f"h{i}") for i in range(depth)]
    return keras.Sequential([keras.Input((4,)), *hidden, keras.layers.Dense(1)])


def assert_marks_are_findings(monitor, numeric_columns):
    findings = monitor._findings()
    assert [finding.flag for finding in findings] == monitor.flags()
    expected = {}
    for finding in findings:
        for layer in finding.layers:
            expected.setdefault(layer, []).append(
                _rules.RULES_BY_KIND[finding.flag.kind].mark
            )
    table = marked(monitor.summary(), numeric_columns)
    assert {layer: marks for layer, marks in table.items() if marks} == {
        layer: marks for layer, marks in expected.items() if layer in table
    }
    for flag in monitor.flags():
        if flag.layer in table:
            assert _rules.RULES_BY_KIND[flag.kind].mark in table[flag.layer]


def dead_relu_run():
    """An ActivationMonitor over 3 epochs of `dead_relu_model` on inputs far
    from zero: dead, off-center and inputs-off-center flags."""
    keras.utils.set_random_seed(0)
    x, y = data()
    model = dead_relu_model()
    model.compile(optimizer="sgd", loss="mse")
    return activation_fit(model, x + 3.0, y)


def deep_sigmoid_run():
    """A GradientMonitor over 2 epochs of `deep_sigmoid_model`: vanishing."""
    keras.utils.set_random_seed(0)
    model = deep_sigmoid_model()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    monitor = keras_acts.GradientMonitor(warn=False)
    model.fit(
        *data(samples=256), epochs=2, batch_size=32, verbose=0, callbacks=[monitor]
    )
    return monitor


def test_activation_marks_are_exactly_the_flags_layers():
    monitor = dead_relu_run()
    assert {flag.kind for flag in monitor.flags()} == {
        "dead",
        "off_center",
        "inputs_off_center",
    }
    assert_marks_are_findings(monitor, 6)


def test_gradient_marks_are_exactly_the_flags_layers():
    monitor = deep_sigmoid_run()
    assert "vanishing" in {flag.kind for flag in monitor.flags()}
    assert_marks_are_findings(monitor, 3)


def test_live_warnings_name_each_final_flag_once():
    keras.utils.set_random_seed(0)
    x, y = data()
    model = dead_relu_model()
    model.compile(optimizer="sgd", loss="mse")
    monitor = keras_acts.ActivationMonitor((x + 3.0, y))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x + 3.0, y, epochs=3, batch_size=16, verbose=0, callbacks=[monitor])
    given = [
        str(w.message)
        for w in caught
        if issubclass(w.category, keras_acts.DiagnosisWarning)
    ]
    assert len(given) == len(set(given))
    for flag in monitor.flags():
        prefix = f"ActivationMonitor: {flag.layer}: "
        matching = [message for message in given if message.startswith(prefix)]
        assert len(matching) == 1
        assert matching[0].endswith(f"{flag.advice} (docs: {flag.doc})")


def test_diagnosis_reports_as_the_monitors_do():
    flag = keras_acts.Flag("dead", "dense", "80% of units dead", "try PReLU", "Doc")
    diagnosis = Diagnosis([flag], None, None, 10, "m")
    head = "keras_acts.diagnose: 10 training steps of model 'm', set back afterwards"
    assert str(diagnosis) == report(head, [flag])
    assert str(diagnosis) == f"{head}:\n- {flag}"
    assert str(Diagnosis([], None, None, 10, "m")) == f"{head}: no problems found."


@pytest.mark.parametrize("rule", _rules.RULES, ids=lambda rule: rule.kind)
def test_every_rule_names_a_docs_page_that_exists(rule):
    # A page's title: its first heading, after any front matter.
    titles = [
        next(line for line in path.read_text().splitlines() if line.startswith("# "))
        for path in DOCS.rglob("*.md")
        if not path.name.endswith(".ko.md")
    ]
    assert any(title.startswith(f"# {rule.doc}") for title in titles)


def test_flag_documents_every_kind_the_rules_have():
    for rule in _rules.RULES:
        assert f'`"{rule.kind}"`' in keras_acts.Flag.__doc__


@pytest.mark.parametrize(
    "monitor, other",
    [
        (keras_acts.GradientMonitor, "dead"),
        (
            lambda **kwargs: keras_acts.ActivationMonitor(np.ones((2, 3)), **kwargs),
            "vanishing",
        ),
    ],
)
def test_warn_takes_its_own_monitors_kinds_only(monitor, other):
    name = "GradientMonitor" if other == "dead" else "ActivationMonitor"
    for kind in _rules.kinds_of(name):
        monitor(warn=[kind])
    with pytest.raises(ValueError, match=rf"unknown flag kinds \['{other}'\]"):
        monitor(warn=[other])


def test_flagged_only_tables_show_the_flagged_layers():
    activations = dead_relu_run()
    full = marked(activations.summary(), 6)
    short = marked(activations.summary(flagged_only=True), 6)
    assert short == {layer: marks for layer, marks in full.items() if marks}

    gradients = deep_sigmoid_run()
    full = marked(gradients.summary(), 3)
    short = marked(gradients.summary(flagged_only=True), 3)
    assert short == {
        layer: marks for layer, marks in full.items() if marks or layer == "(global)"
    }
    assert len(short) < len(full)
    assert gradients.summary(flagged_only=True).endswith(
        gradients.summary().split("\nProblems", 1)[1]
    )
    with pytest.raises(ValueError, match="flagged_only"):
        gradients.summary(flagged_only="yes")


class Revive(keras.callbacks.Callback):
    """Brings a dead ReLU layer back to life after a given batch."""

    def __init__(self, layer, after_batch):
        super().__init__()
        self.layer, self.after_batch = layer, after_batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.after_batch:
            self.layer.bias.assign(np.ones(self.layer.bias.shape))


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="JAX's trainer keeps the training state itself: a callback's assign "
    "does not reach the next step",
)
@pytest.mark.parametrize("revived_after", [3, 60])
def test_a_dead_state_is_warned_once_confirmed_and_marked_when_it_clears(
    revived_after,
):
    # Dead from step 0 until the bias is set back after `revived_after`
    # steps: a state that clears within CONFIRM_STEPS is not warned about;
    # one that held longer is, once, and the report marks it as cleared.
    keras.utils.set_random_seed(0)
    x, y = data()
    dead = keras.layers.Dense(
        8, "relu", bias_initializer=keras.initializers.Constant(-10.0), name="dead"
    )
    model = keras.Sequential([keras.Input((4,)), dead, keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    monitor = keras_acts.ActivationMonitor((x, y), freq=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            np.tile(x, (10, 1)),
            np.tile(y, (10, 1)),
            batch_size=8,
            shuffle=False,
            verbose=0,
            callbacks=[monitor, Revive(dead, after_batch=revived_after)],
        )
    given = [
        str(w.message)
        for w in caught
        if issubclass(w.category, keras_acts.DiagnosisWarning)
    ]
    assert monitor.flags() == []
    summary = monitor.summary()
    if revived_after < _rules.CONFIRM_STEPS["dead"]:
        assert given == []
        assert summary.endswith("Problems: no problems found.")
        return
    # Flagged from step 2 (three records), warned 50 steps later.
    confirmed = 2 + _rules.CONFIRM_STEPS["dead"]
    assert given == [
        "ActivationMonitor: dead: 100% of units dead on the probe batch at step "
        f"{confirmed}: try PReLU, LeakyReLU or ELU, a lower learning rate, or He "
        "initialization (docs: Dead and saturated units)"
    ]
    assert summary.endswith(
        "Problems: no problems found.\n"
        "Warned during training, cleared since:\n"
        f"- dead: 100% of units dead on the probe batch at step {confirmed}"
    )
    assert marked(summary, 6)["dead"] == []


def gradient_rows(norms, update_ratio=0.01):
    """A record's layer rows with the given gradient norms (the last layer
    is the output), as the rules take them."""
    rows = {
        layer: {"l2": norm, "weight_l2": 1.0, "update_ratio": update_ratio}
        for layer, norm in norms.items()
    }
    rows[_rules.GLOBAL] = {
        "l2": float(np.sqrt(sum(n * n for n in norms.values()))),
        "weight_l2": 1.0,
        "update_ratio": update_ratio,
    }
    return rows


def kinds_and_layers(run, threshold=1e3):
    return [
        (f.flag.kind, f.flag.layer) for f in _rules.gradient_findings(run, threshold)
    ]


def test_vanishing_is_a_trend_from_the_input_not_one_small_layer():
    # One small layer among healthy ones (an attention query at
    # initialisation; a branch behind a layer scale): not vanishing.
    run = _rules.GradientRun(vanishing_ratio=1e-3)
    for step in range(20):
        run.add(
            gradient_rows({"embed": 0.5, "query": 1e-6, "ffn": 0.3, "out": 1.0}), step
        )
    assert kinds_and_layers(run) == []
    # Every layer from the input up to `h2` small: vanishing, named there.
    run = _rules.GradientRun(vanishing_ratio=1e-3)
    for step in range(20):
        run.add(gradient_rows({"h1": 1e-7, "h2": 1e-5, "h3": 0.2, "out": 1.0}), step)
    assert kinds_and_layers(run) == [("vanishing", "h2")]


def test_a_large_norm_is_exploding_only_with_large_steps_or_growth():
    for update_ratio, flagged in ((0.001, False), (0.5, True), (None, True)):
        run = _rules.GradientRun(vanishing_ratio=1e-3)
        run.add(gradient_rows({"h": 5e3, "out": 5e3}, update_ratio), 0)
        assert (("exploding", "(global)") in kinds_and_layers(run)) is flagged
    # Growing 1000-fold is exploding whatever the steps.
    run = _rules.GradientRun(vanishing_ratio=1e-3)
    run.add(gradient_rows({"h": 1.0, "out": 1.0}, 0.001), 0)
    run.add(gradient_rows({"h": 2e3, "out": 2e3}, 0.001), 1)
    assert ("exploding", "(global)") in kinds_and_layers(run)


@pytest.mark.parametrize("next_ratio, flagged", [(0.001, False), (0.5, True)])
def test_a_peak_on_an_accumulating_micro_batch_is_judged_by_its_update(
    next_ratio, flagged
):
    # A micro-batch that only accumulates has no update ratio: a large norm
    # there was flagged whatever the update it went into, under Adam too.
    run = _rules.GradientRun(vanishing_ratio=1e-3)
    run.add(gradient_rows({"h": 5e3, "out": 5e3}, None), 0)
    run.add(gradient_rows({"h": 4e3, "out": 4e3}, next_ratio), 0)
    assert (("exploding", "(global)") in kinds_and_layers(run)) is flagged


@pytest.mark.parametrize(
    "losses, converged",
    [
        ([3.0, 1e-2], False),
        ([3.0, 1e-5, 2e-6], True),
        ([3.0, float("nan"), 1e-5], True),  # a NaN epoch is not a loss
        ([3.0, float("nan")], False),
        ([-3.0, -1e-6], False),  # a negative loss has no fall to measure
        ([3.0, -1e-6], False),
    ],
)
def test_a_run_has_converged_when_its_loss_fell_1000_fold(losses, converged):
    run = _rules.GradientRun(vanishing_ratio=1e-3)
    for loss in losses:
        run.add_loss(loss)
    assert run.converged() is converged


@pytest.mark.parametrize(
    "update_ratio, says",
    [
        (0.5, "by 50% in one step"),
        (9.5, "by 950% in one step"),
        (20.0, "by 2.0e+01 times their norm in one step"),
        (5e12, "by 5.0e+12 times their norm in one step"),
        (float("inf"), "by a non-finite amount in one step"),
    ],
)
def test_exploding_says_how_far_the_step_moved_the_weights(update_ratio, says):
    run = _rules.GradientRun(vanishing_ratio=1e-3)
    run.add(gradient_rows({"h": 5e3, "out": 5e3}, update_ratio), 0)
    (finding,) = _rules.gradient_findings(run, 1e3)
    assert finding.flag.problem.endswith(says)


@pytest.mark.parametrize(
    "context, expected",
    [
        (None, "try ReLU-family activations"),
        (_rules.Context(frozenset({"sigmoid"}), "SGD", 0.1), "try ReLU-family"),
        (_rules.Context(frozenset({"relu"}), "Adam", 1e-3), "look for dead units"),
        (
            _rules.Context(frozenset({"relu"}), "Adam", 0.1),
            "try a lower learning rate (Adam learning_rate=0.1 is high); no "
            "saturating activation",
        ),
    ],
)
def test_vanishing_advice_fits_the_activations_and_the_learning_rate(context, expected):
    finding = _rules._finding("vanishing", "h2", "gradients vanish")
    (fitted,) = _rules.fitted([finding], context)
    assert expected in fitted.flag.advice
    assert fitted.layers == finding.layers


@pytest.mark.parametrize(
    "optimizer, learning_rate, named",
    [
        ("Adam", 1e-3, False),
        ("Adam", 1e-2, True),
        ("SGD", 0.1, False),
        ("SGD", 1.0, True),
    ],
)
def test_a_learning_rate_high_for_its_optimizer_is_named(
    optimizer, learning_rate, named
):
    context = _rules.Context(frozenset({"relu"}), optimizer, learning_rate)
    for kind in ("dead", "exploding", "nonfinite"):
        (fitted,) = _rules.fitted([_rules._finding(kind, "h", "bad")], context)
        assert (
            f"learning_rate={learning_rate:g} is high" in fitted.flag.advice
        ) is named


def test_a_dead_relu_net_at_a_high_rate_is_told_so_not_to_use_relu():
    # The reviewer's case: a ReLU net that died at Adam(0.1).
    keras.utils.set_random_seed(0)
    x, y = data(samples=256)
    model = keras.Sequential(
        [keras.Input((4,))]
        + [keras.layers.Dense(16, "relu") for _ in range(6)]
        + [keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.Adam(0.1), "mse")
    diagnosis = keras_acts.diagnose(model, x, y * 100.0, steps=40, verbose=False)
    assert diagnosis.flags, "the run should be broken"
    for flag in diagnosis.flags:
        assert "try ReLU-family" not in flag.advice
    assert any("Adam learning_rate=0.1 is high" in f.advice for f in diagnosis.flags)


def dead_rows(fraction, step):
    return [
        {
            "step": step,
            "layer": "h",
            "activation": "relu",
            "mean": 0.0,
            "std": 0.0,
            "dead_fraction": fraction,
            "dead_fraction_data": None,
            "saturated_fraction": None,
        }
    ]


@pytest.mark.parametrize(
    "fractions, flagged",
    [
        ([1.0], False),  # a single record: a small probe finds units idle
        ([1.0, 1.0], False),
        ([1.0, 1.0, 1.0], True),
        ([1.0, 0.2, 1.0], False),  # came back in between
        ([0.2, 1.0, 1.0, 1.0], True),  # the last three count
    ],
)
def test_the_dead_rule_needs_the_last_three_records(fractions, flagged):
    records = [dead_rows(f, step) for step, f in enumerate(fractions)]
    findings = _rules.activation_findings(records, set())
    assert ([f.flag.kind for f in findings] == ["dead"]) is flagged


@pytest.mark.parametrize(
    "head, from_logits, flagged",
    [("softmax", True, True), ("softmax", False, False), (None, True, False)],
)
def test_probabilities_given_to_a_logits_loss(head, from_logits, flagged):
    # A softmax head under from_logits=True: the loss softmaxes probabilities
    # again. The flag names the output and says what to change, not the
    # generic advice for saturated hidden units.
    x, y = data()
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(3)]
    )
    if head:
        model.add(keras.layers.Activation(head))
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
    )
    labels = (x[:, 0] > 0).astype("int32")
    monitor = activation_fit(model, x, labels, epochs=1)
    found = [flag for flag in monitor.flags() if flag.layer == "(outputs)"]
    assert len(found) == flagged
    if flagged:
        assert found[0].kind == "saturated"
        assert "from_logits=False" in found[0].advice


def _binary_head(kind):
    """A one-unit binary head on 4 features: a Dense with sigmoid (followed
    by a Flatten, in a Functional or Sequential model), a Dense then Keras's
    sigmoid op, a nested Sequential ending in a sigmoid, or logits."""
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, "relu")(inputs)
    if kind == "layer":
        outputs = keras.layers.Dense(1, "sigmoid")(hidden)
    elif kind == "op":
        outputs = keras.ops.sigmoid(keras.layers.Dense(1)(hidden))
    elif kind == "flattened":
        outputs = keras.layers.Flatten()(keras.layers.Dense(1, "sigmoid")(hidden))
    elif kind == "sequential flattened":
        return keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(8, "relu"),
                keras.layers.Dense(1, "sigmoid"),
                keras.layers.Flatten(),
            ]
        )
    elif kind == "nested":
        head = keras.Sequential(
            [keras.layers.Dense(1), keras.layers.Activation("sigmoid")]
        )
        outputs = head(hidden)
    else:
        outputs = keras.layers.Dense(1)(hidden)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize(
    "head, from_logits, flagged",
    [
        ("layer", True, True),
        ("op", True, True),
        ("nested", True, True),
        ("flattened", True, True),
        ("sequential flattened", True, True),
        ("layer", False, False),
        ("flattened", False, False),
        ("logits", True, False),
    ],
)
def test_a_sigmoid_given_to_a_logits_loss(head, from_logits, flagged):
    # A one-unit sigmoid output under from_logits=True: its values within
    # [0, 1] could be logits, so the flag comes from the graph: the loss
    # squashes them again, and no probability falls below 0.5.
    x, _ = data()
    model = _binary_head(head)
    model.compile(
        optimizer="sgd",
        loss=keras.losses.BinaryCrossentropy(from_logits=from_logits),
    )
    labels = (x[:, :1] > 0).astype("float32")
    monitor = activation_fit(model, x, labels, epochs=1)
    found = [flag for flag in monitor.flags() if flag.layer == "(outputs)"]
    assert len(found) == flagged
    if flagged:
        assert found[0].kind == "saturated"
        assert "sigmoid" in found[0].problem and "0.5" in found[0].problem
        assert "from_logits=False" in found[0].advice


@pytest.mark.parametrize(
    "tail", ["reshape", "flatten", "sequential", "reshape identity", "flatten permute"]
)
def test_an_output_layer_that_a_reshape_follows_is_not_hidden(tail):
    # Saturation is by design in the output's sigmoid, also when a Reshape
    # to the targets' shape or a Flatten follows it; a hidden sigmoid before
    # a Flatten is still judged.
    x, _ = data()
    saturating = keras.initializers.Constant(5.0)
    layers = [
        keras.layers.Dense(4, "sigmoid", kernel_initializer=saturating, name="hidden"),
        keras.layers.Flatten(name="between"),
        keras.layers.Dense(1, "sigmoid", kernel_initializer=saturating, name="out"),
        keras.layers.Reshape(())
        if tail.startswith("reshape")
        else keras.layers.Flatten(),
    ]
    # Two layers after the output: an Identity returns its input itself.
    if tail == "reshape identity":
        layers.append(keras.layers.Identity())
    elif tail == "flatten permute":
        layers.append(keras.layers.Permute((1,)))
    if tail == "sequential":
        model = keras.Sequential([keras.Input((4,)), *layers])
    else:
        inputs = keras.Input((4,))
        outputs = inputs
        for layer in layers:
            outputs = layer(outputs)
        model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    labels = (x[:, 0] > 0).astype("float32")
    if not tail.startswith("reshape"):
        labels = labels[:, None]
    monitor = activation_fit(model, x, labels, epochs=1)
    assert monitor._probe.not_hidden == {"out"}
    assert {flag.layer for flag in monitor.flags()} == {"hidden"}


def test_outputs_through_one_shared_flatten_are_judged_each_by_its_own_source():
    # A sigmoid head and a logits head, both through one Flatten, both given
    # to logits losses: only the sigmoid is squashed already.
    x, _ = data()
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, "relu")(inputs)
    flatten = keras.layers.Flatten()
    model = keras.Model(
        inputs,
        [
            flatten(keras.layers.Dense(1, "sigmoid")(hidden)),
            flatten(keras.layers.Dense(1)(hidden)),
        ],
    )
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    model.compile(optimizer="sgd", loss=[loss, loss])
    labels = (x[:, :1] > 0).astype("float32")
    monitor = activation_fit(model, x, [labels, labels], epochs=1)
    found = [flag.layer for flag in monitor.flags() if flag.layer.startswith("(output")]
    assert found == ["(output 0)"]


@pytest.mark.parametrize("structure", ["dict", "list"])
@pytest.mark.parametrize("logits_loss_on", ["classes", "score"])
def test_each_output_is_judged_by_its_own_loss(logits_loss_on, structure):
    # Two outputs, a softmax over classes and a sigmoid score: only the one
    # whose own loss takes logits is flagged, named as inputs are, by its
    # key or its index among the outputs (never "(outputs)", which names a
    # model's only output), with the nonlinearity it has.
    x, _ = data()
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, "relu")(inputs)
    outputs = {
        "classes": keras.layers.Dense(3, "softmax")(hidden),
        "score": keras.layers.Dense(1, "sigmoid")(hidden),
    }
    losses = {
        "classes": keras.losses.SparseCategoricalCrossentropy(),
        "score": keras.losses.BinaryCrossentropy(),
    }
    if logits_loss_on == "classes":
        losses["classes"] = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        losses["score"] = keras.losses.BinaryCrossentropy(from_logits=True)
    labels = {
        "classes": (x[:, 0] > 0).astype("int32"),
        "score": (x[:, :1] > 0).astype("float32"),
    }
    expected = {
        "classes": ("(output 'classes')", "softmax"),
        "score": ("(output 'score')", "sigmoid"),
    }
    if structure == "list":
        outputs, losses, labels = (list(d.values()) for d in (outputs, losses, labels))
        expected = {
            "classes": ("(output 0)", "softmax"),
            "score": ("(output 1)", "sigmoid"),
        }
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss=losses)
    monitor = activation_fit(model, x, labels, epochs=1)
    found = [flag for flag in monitor.flags() if flag.layer.startswith("(output")]
    layer, squash = expected[logits_loss_on]
    assert [flag.layer for flag in found] == [layer]
    assert squash in found[0].problem


@pytest.mark.parametrize("late_ratio, stalled", [(1e-9, True), (1e-3, False)])
def test_stalled_is_judged_on_the_later_half_of_the_steps(late_ratio, stalled):
    # freq="auto" records steps 0-10, then ever more sparsely: the later half
    # of the run holds one record, so the rule reads the last three; the
    # early records (healthy or not) do not decide it.
    run = _rules.GradientRun(vanishing_ratio=1e-3)
    for step in [*range(11), 12, 16, 32, 64, 128, 256]:
        ratio = 1e-2 if step <= 16 else late_ratio
        row = {"l2": 1.0, "weight_l2": 1.0, "update_ratio": ratio}
        run.add({"out": row, _rules.GLOBAL: row}, step)
    kinds = [f.flag.kind for f in _rules.gradient_findings(run, 1e3)]
    assert ("stalled" in kinds) == stalled
    if stalled:
        problem = _rules.gradient_findings(run, 1e3)[0].flag.problem
        assert "median of the 3 records from step 64" in problem


def test_inputs_off_center_are_judged_feature_by_feature_too():
    # One wide feature lifts the average spread above the others' centers:
    # most features are off-center all the same. A wide feature beside
    # centered ones, or one off-center feature among many, is not.
    rng = np.random.default_rng(0)
    shifted = rng.normal(5.0, size=(256, 64))
    shifted[:, 0] = rng.normal(0.0, 1000.0, size=256)
    (finding,) = _rules.input_findings({"(inputs)": shifted})
    assert finding.flag.kind == "inputs_off_center"
    assert "63 of 64 features average more than their spread" in finding.flag.problem
    centered = rng.normal(size=(256, 64))
    centered[:, 0] *= 1000.0
    centered[:, 1] += 5.0
    kinds = [f.flag.kind for f in _rules.input_findings({"(inputs)": centered})]
    assert kinds == ["inputs_unscaled"]  # not off center
    # Half the features off center is not most; blank (constant zero)
    # features are not off center. A NaN feature is left out of the count.
    half = rng.normal(size=(256, 8))
    half[:, :4] += 5.0
    half[:, 4:6] = 0.0
    half[:, 6] *= 1000.0
    kinds = [f.flag.kind for f in _rules.input_findings({"(inputs)": half})]
    assert kinds == ["inputs_unscaled"]
    half[:, 4] = 5.0
    half[0, 5] = np.nan
    (finding,) = _rules.input_findings({"(inputs)": half})
    assert "5 of 7 features average more than their spread" in finding.flag.problem
    assert "nan" not in finding.flag.problem
    # Under 16 examples, means stray from 0 by chance: the averaged rule
    # alone judges them.
    for rows, flagged in ((8, False), (16, True)):
        few = np.zeros((rows, 3))
        few[:, :2] = np.resize([0.9, 1.1], rows)[:, None]
        few[:, 2] = np.resize([-5.0, 5.0], rows)
        kinds = [f.flag.kind for f in _rules.input_findings({"(inputs)": few})]
        assert kinds == (["inputs_off_center"] if flagged else [])


def test_a_feature_far_wider_than_the_others_is_flagged():
    # Standardized features beside one in raw units: flagged once, by how
    # far it spreads; blank (constant) features do not lower the median.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 16))
    x[:, :4] = 0.0
    x[:, 5] *= 1000.0
    (finding,) = _rules.input_findings({"(inputs)": x})
    assert finding.flag.kind == "inputs_unscaled"
    assert "1 of 12 spread more than 100 times the median feature's" in (
        finding.flag.problem
    )
    assert "Standardize them per feature" in finding.flag.advice
    # One scale for all, however large (pixels centered on 0), or a feature
    # 50 times wider: nothing to say.
    assert (
        _rules.input_findings({"(inputs)": 1000.0 * rng.normal(size=(256, 16))}) == []
    )
    x[:, 5] /= 20.0
    assert _rules.input_findings({"(inputs)": x}) == []
    # Off-center and on different scales: one flag, the same advice.
    shifted = rng.normal(5.0, size=(256, 16))
    shifted[:, 0] *= 1000.0
    kinds = [f.flag.kind for f in _rules.input_findings({"(inputs)": shifted})]
    assert kinds == ["inputs_off_center"]


def test_a_wide_input_feature_is_flagged_by_the_monitor():
    x, y = data(samples=64, features=6)
    x[:, 0] *= 1000.0
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, "relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    monitor = activation_fit(model, x, y, epochs=1)
    assert [(f.kind, f.layer) for f in monitor.flags()] == [
        ("inputs_unscaled", "(inputs)")
    ]


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_a_few_examples_say_nothing_of_input_centering(rows):
    standardized = np.random.default_rng(0).normal(size=(rows, 5))
    assert _rules.input_findings({"(inputs)": standardized}) == []
    # Four rows or more are judged: far from zero, they are flagged.
    shifted = np.random.default_rng(0).normal(5.0, size=(max(rows, 4), 5))
    assert [f.flag.kind for f in _rules.input_findings({"(inputs)": shifted})] == [
        "inputs_off_center"
    ]
