"""The monitors and diagnose on the models of the Real models page, and what
each activation swap did there.

Each model is trained from scratch twice, as built and with an activation
swapped by `keras_acts.replace_activations`, with both monitors attached:
the keras.applications networks (weights=None) on scikit-learn's digits
(8x8 images scaled up to 32x32, three channels, standardized), keras-hub's
BERT and GPT-2 backbones (built from arguments, no download) on generated
token sequences (the label: whether token 7 occurs in the first half). 512
training and 256 test examples, batches of 32, 48 steps of Adam at 1e-3,
seed 0. Before the runs, `diagnose` (6 steps) is timed against the first fit
of the same model for the same steps, on fresh builds, in three rounds.

Writes docs/numbers/real_models.json, which the page quotes and
docs/scripts/make_figures.py draws. About 45 minutes on 2 CPU cores, on
TensorFlow.

    python docs/scripts/real_models.py
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_acts  # noqa: E402
from keras_acts import ActivationMonitor, GradientMonitor  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
NUMBERS = ROOT / "docs" / "numbers" / "real_models.json"
TRAIN, TEST, BATCH, STEPS = 512, 256, 32, 48
TIMING_ROUNDS = 3
EPOCHS = STEPS * BATCH // TRAIN
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

# name, how to build it, the activation swapped, its replacement, the
# surgery's arguments.
APPLICATIONS = {
    "ResNet50": ({}, "relu", "PReLU", {}),
    "MobileNetV2": ({"alpha": 0.35}, "relu", "PReLU", {"capped": "keep"}),
    "MobileNetV3Small": ({}, "hard_swish", "Swish", {}),
    "EfficientNetB0": ({}, "swish", "Swish", {}),
    "ConvNeXtTiny": ({}, "gelu", "Swish", {}),
    "DenseNet121": ({}, "relu", "ParametricELU", {}),
}
TEXT = dict(
    vocabulary_size=100,
    num_layers=2,
    num_heads=2,
    hidden_dim=32,
    intermediate_dim=64,
    max_sequence_length=16,
)


def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.kron(data.images, np.ones((4, 4)))[..., None].repeat(3, axis=-1)
    images = ((images - images.mean()) / images.std()).astype("float32")
    order = np.random.default_rng(0).permutation(len(images))[: TRAIN + TEST]
    x, y = images[order], data.target[order]
    return (x[:TRAIN], y[:TRAIN]), (x[TRAIN:], y[TRAIN:])


def sequences(with_segments: bool):
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 100, size=(TRAIN + TEST, 16)).astype("int32")
    labels = (tokens[:, :8] == 7).any(axis=1).astype("int32")
    # Half the examples get a 7 in the first half: balanced labels.
    half = rng.random(TRAIN + TEST) < 0.5
    tokens[half, rng.integers(0, 8, half.sum())] = 7
    labels = (tokens[:, :8] == 7).any(axis=1).astype("int32")
    x = {"token_ids": tokens, "padding_mask": np.ones_like(tokens)}
    if with_segments:
        x["segment_ids"] = np.zeros_like(tokens)

    def part(s):
        return {k: v[s] for k, v in x.items()}, labels[s]

    return part(slice(0, TRAIN)), part(slice(TRAIN, None))


def application(name):
    arguments = APPLICATIONS[name][0]
    return getattr(keras.applications, name)(
        weights=None,
        input_shape=(32, 32, 3),
        classes=10,
        classifier_activation=None,
        **arguments,
    )


def text_model(name):
    import keras_hub

    backbone = getattr(keras_hub.models, name)(**TEXT)
    inputs = {
        tensor.name: keras.Input((16,), dtype="int32", name=tensor.name)
        for tensor in backbone.inputs
    }
    features = backbone(inputs)
    if isinstance(features, dict):
        pooled = features["pooled_output"]
    else:
        pooled = keras.layers.GlobalAveragePooling1D()(features)
    return keras.Model(inputs, keras.layers.Dense(2)(pooled))


def uses(model, kind) -> int:
    """How many layers of `model` (nested models included) are `kind`, or
    apply one as their `activation`."""
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            count += uses(layer, kind)
        count += isinstance(layer, kind)
        count += isinstance(getattr(layer, "activation", None), kind)
    return count


def first(structure, count=BATCH):
    return keras.tree.map_structure(lambda a: a[:count], structure)


def compiled(model):
    model.compile(keras.optimizers.Adam(1e-3), LOSS, metrics=["accuracy"])
    return model


def timed_diagnose(build, x, y):
    """diagnose (6 steps) and the first fit of the same 6 steps (which
    traces the training step, as a first fit does), each on a fresh build of
    the same model, in `TIMING_ROUNDS` rounds, in reverse order every other
    round (what runs first in a process also pays for what TensorFlow sets
    up once): the last diagnosis, and the median over rounds of diagnose's
    seconds, of the plain fit's, and of their ratio: the cost of a check
    before the first run."""
    steps, x, y = 6, first(x, 6 * BATCH), y[: 6 * BATCH]

    def plain(model):
        model.fit(x, y, batch_size=BATCH, verbose=0)

    def diagnosed(model):
        return keras_acts.diagnose(model, x, y, steps=steps, verbose=False)

    seconds = {plain: [], diagnosed: []}
    for round_ in range(TIMING_ROUNDS):
        order = [plain, diagnosed] if round_ % 2 == 0 else [diagnosed, plain]
        for timed in order:
            keras.utils.set_random_seed(0)
            model = compiled(build())
            start = time.perf_counter()
            result = timed(model)
            seconds[timed].append(time.perf_counter() - start)
            if timed is diagnosed:
                diagnosis = result
    ratios = [d / p for d, p in zip(seconds[diagnosed], seconds[plain], strict=True)]
    return (
        diagnosis,
        statistics.median(seconds[diagnosed]),
        statistics.median(seconds[plain]),
        statistics.median(ratios),
    )


def monitored_run(model, train, test):
    (x, y), (x_test, y_test) = train, test
    compiled(model)
    gradients = GradientMonitor(freq=4, warn=False)
    activations = ActivationMonitor((first(x), first(y)), freq=8, warn=False)
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=EPOCHS,
        verbose=0,
        callbacks=[gradients, activations],
    )
    _, accuracy = model.evaluate(x_test, y_test, batch_size=BATCH, verbose=0)
    norms = gradients.layer_norms(step=0)
    last = activations.history[-1]["step"]
    rows = [r for r in activations.history if r["step"] == last]
    return {
        "loss": [float(v) for v in history.history["loss"]],
        "test_accuracy": float(accuracy),
        "flags": [str(flag) for flag in gradients.flags() + activations.flags()],
        "layers_monitored": len(rows),
        # The gradient norm of each layer at step 0, input side first.
        "gradient_norms": [float(v) for v in norms.values()],
        "worst_dead_fraction": max(
            (r["dead_fraction"] for r in rows if r["dead_fraction"] is not None),
            default=None,
        ),
    }


def run(name, build, train, test, old, new, surgery):
    diagnosis, diagnose_seconds, plain_seconds, ratio = timed_diagnose(build, *train)
    keras.utils.set_random_seed(0)
    model = build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        swapped = keras_acts.replace_activations(
            model, old, getattr(keras_acts, new), **surgery
        )
    replaced = uses(swapped, getattr(keras_acts, new))
    result = {
        "parameters": int(model.count_params()),
        "old": old,
        "new": new,
        "replaced": replaced,
        "diagnose_flags": [str(flag) for flag in diagnosis.flags],
        "diagnose_seconds": diagnose_seconds,
        "plain_fit_seconds": plain_seconds,
        "diagnose_ratio": ratio,
        "original": monitored_run(model, train, test),
        "swapped": monitored_run(swapped, train, test),
    }
    print(
        f"{name}: {result['parameters']:,} parameters, diagnose "
        f"{diagnose_seconds:.1f} s (plain {plain_seconds:.1f} s), flags "
        f"{len(diagnosis.flags)}; {old} test accuracy "
        f"{result['original']['test_accuracy']:.3f}, {new} "
        f"{result['swapped']['test_accuracy']:.3f}",
        flush=True,
    )
    return result


def flat(results: dict) -> dict:
    """The per-model values under keys of their own
    (`resnet50_test_accuracy_swapped`), for the page's placeholders."""
    numbers = {}
    for name, result in results.items():
        key = name.lower().removesuffix("backbone")
        numbers[f"{key}_parameters"] = result["parameters"]
        numbers[f"{key}_replaced"] = result["replaced"]
        numbers[f"{key}_diagnose_ratio"] = result["diagnose_ratio"]
        numbers[f"{key}_diagnose_flags"] = len(result["diagnose_flags"])
        numbers[f"{key}_monitored"] = result["original"]["layers_monitored"]
        for run in ("original", "swapped"):
            numbers[f"{key}_test_accuracy_{run}"] = result[run]["test_accuracy"]
            numbers[f"{key}_loss_{run}"] = result[run]["loss"][-1]
            numbers[f"{key}_flags_{run}"] = len(result[run]["flags"])
    return numbers


def main() -> None:
    import tensorflow as tf

    warnings.simplefilter("ignore", keras_acts.DiagnosisWarning)
    images_train, images_test = digits()
    results = {}
    for name, (_, old, new, surgery) in APPLICATIONS.items():
        results[name] = run(
            name,
            lambda name=name: application(name),
            images_train,
            images_test,
            old,
            new,
            surgery,
        )
    for name in ("BertBackbone", "GPT2Backbone"):
        train, test = sequences(with_segments=name == "BertBackbone")
        results[name] = run(
            name,
            lambda name=name: text_model(name),
            train,
            test,
            "gelu",
            "Swish",
            {},
        )
    import keras_hub

    numbers = {
        **flat(results),
        "models": results,
        "steps": STEPS,
        "batch_size": BATCH,
        "train_examples": TRAIN,
        "models_without_flags": sum(not r["diagnose_flags"] for r in results.values()),
        "model_count": len(results),
        "largest_diagnose_ratio": max(r["diagnose_ratio"] for r in results.values()),
        "versions": (
            f"keras {keras.__version__}, TensorFlow {tf.__version__}, keras-hub "
            f"{keras_hub.__version__}, Python {platform.python_version()}"
        ),
        "hardware": f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU",
    }
    NUMBERS.write_text(json.dumps(numbers, indent=1) + "\n")
    print(f"wrote {NUMBERS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
