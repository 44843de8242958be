"""Model surgery: every use of one activation replaced by a new layer."""

from __future__ import annotations

from collections.abc import Callable

import keras

from keras_acts import _warnings
from keras_acts._surgery import Surgeon


def _layer_names(model: keras.Model) -> set[str]:
    """The names of every layer in `model`, nested models' layers too."""
    names = set()
    for layer in model.layers:
        names.add(layer.name)
        if isinstance(layer, keras.Model):
            names |= _layer_names(layer)
    return names


def _uses(count: int) -> str:
    return f"{count} use" + ("" if count == 1 else "s")


def _describe(remaining: dict[tuple[str, str], list[str]]) -> str:
    return "; ".join(
        f"{', '.join(paths)} ({class_name}) unchanged: {why}"
        for (class_name, why), paths in remaining.items()
    )


def _describe_kept(kept: list[tuple[str, str, str]]) -> str:
    return "; ".join(f"{name} ({what}): {why}" for name, what, why in kept)


def replace_activations(
    model: keras.Model,
    old: str | type,
    new: Callable[[], keras.layers.Layer],
    capped: str = "refuse",
) -> keras.Model:
    """A copy of `model` in which every use of the activation `old` is a new
    layer made by `new()`.

    What counts as a use of `old`:

    - `activation=old` of a Dense, EinsumDense or convolution layer: the
      layer keeps its weights, takes a linear activation, and is followed by
      the new layer;
    - `keras.layers.Activation(old)` layers, and for `old="relu"` the
      `keras.layers.ReLU` layers that compute a plain ReLU: each is replaced
      by the new layer (a ReLU layer with a `threshold` or a
      `negative_slope` computes another function: it stays, and a warning
      names it);
    - the frameworks' own functions that compute `old`, as activations of
      the layers above: `tf.nn.relu`, `keras.ops.relu`, `jax.nn.relu` or
      `torch.nn.functional.relu` for `"relu"` (and likewise for relu6,
      sigmoid, tanh, elu, selu, softplus, softsign and silu). Any other
      function with the name of `old` (your own `relu`, `jax.nn.gelu`, which
      approximates by default) stays, and a warning names it;
    - with a layer class as `old`, every layer of that class;
    - an activation argument of a composite layer's configuration that names
      `old`, such as keras-hub's `TransformerEncoder(activation="gelu")`:
      the layer is rebuilt from its configuration with the new layer as that
      argument, and keeps its weights.

    `"gelu"` also matches keras-hub's `gelu_approximate` (gelu's tanh
    approximation, in BERT and GPT-2). A use that cannot be replaced (inside
    a recurrent layer, or built by a composite layer in its own code, or in
    an argument that takes only names) stays, and a warning names its path
    and why.

    Sequential, Functional and nested models are rebuilt, keras.applications
    models and keras-hub backbones included (a backbone comes back as a
    Functional model with the same inputs and outputs). Every other layer is
    a copy with the original's weights (one whose activation is a lambda, as
    `Dense(activation=lambda z: z * 2)`, keeps that lambda); the new layers
    are fresh. The copy is
    compiled like the original when the original was compiled (optimizer
    state is not copied).

    Where a new layer computes an output of a Functional model, it takes
    the name of the layer it replaces or follows (which is renamed
    `<name>_linear`; a cap takes a capped ReLU's name), so that the model's
    `output_names`, by which compiled losses and metrics find the outputs,
    stay. A new layer is frozen where that layer is, and a copy of a frozen
    model is frozen.

    A new layer takes the dtype policy of the layer it replaces (or follows,
    or is rebuilt into), so that a float64 or mixed-precision model stays
    one whatever the global policy is when it is copied (`new` is called
    under that policy); a layer to which `new` gives a policy
    (`dtype="float32"`) keeps it. A quantized layer's new layer takes the
    policy it was quantized from.

    Args:
        model: A Sequential or Functional model (not a subclassed one).
        old: An activation name that `keras.activations.get` resolves, such
            as `"relu"`, or a layer class such as `keras.layers.ReLU`.
        new: A callable with no arguments returning a new layer, called once
            per use, e.g. `keras_acts.PReLU` or
            `lambda: keras_acts.PReLU(alpha_initializer=0.0)`.
        capped: What to do with a `keras.layers.ReLU(max_value=...)` layer
            that matches: `"refuse"` raises a ValueError naming it; `"keep"`
            caps the new layer's output at the same value (a
            `keras.layers.ReLU(max_value, negative_slope=1.0)` after it, the
            identity below the cap). Defaults to `"refuse"`.

    Returns:
        The new model.

    Raises:
        ValueError: for a subclassed model (the message gives the recipe),
            an `old` that names no activation, a `new` that does not make a
            new layer on each call, a capped ReLU with `capped="refuse"`, a
            layer that cannot be rebuilt from its own configuration, or a
            model with no use of `old` that can be replaced.

    Warns:
        UserWarning: naming each use of `old` left unchanged (such as
            `keras.layers.SimpleRNN(activation="relu")`, or a Dense that a
            composite layer builds in its own code), with why; and each
            layer that looks like a use of `old` but is kept as it is (a
            `ReLU(threshold=0.5)`, a function named like `old` that is not
            known to compute it).

    Example:
        ```python
        model = keras.applications.VGG16(
            weights=None, include_top=False, input_shape=(32, 32, 3)
        )
        prelu = keras_acts.replace_activations(
            model, "relu", lambda: keras_acts.PReLU(alpha_initializer=0.0)
        )
        print(sum(isinstance(layer, keras_acts.PReLU) for layer in prelu.layers))
        # Slopes at 0: the same outputs as `model` until the slopes train.
        x = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3))
        print(np.allclose(prelu(x), model(x)))
        ```

        ```text
        13
        True
        ```
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    surgeon = Surgeon(old, new, capped)
    surgeon.names = _layer_names(model)
    rebuilt = surgeon.rebuild(model)
    remaining = surgeon.remaining(rebuilt)
    if not surgeon.made:
        found = "; ".join(
            part
            for part in (_describe(remaining), _describe_kept(surgeon.kept))
            if part
        )
        raise ValueError(
            f"Model {model.name!r} has no use of {old!r} that "
            "replace_activations can replace" + (f": {found}." if found else ".")
        )
    if surgeon.kept:
        count = len(surgeon.kept)
        _warnings.warn(
            f"replace_activations left {count} layer{'' if count == 1 else 's'} "
            f"that look{'s' if count == 1 else ''} like a use of {old!r} as "
            f"{'it is' if count == 1 else 'they are'}: "
            f"{_describe_kept(surgeon.kept)}."
        )
    if remaining:
        name = repr(old) if isinstance(old, str) else old.__name__
        count = sum(len(paths) for paths in remaining.values())
        _warnings.warn(
            f"replace_activations replaced {_uses(len(surgeon.made))} of {name} "
            f"and left {_uses(count)}, where the copy still computes it: "
            f"{_describe(remaining)}."
        )
    surgeon.copy_weights()
    if getattr(model, "compiled", False) and not getattr(rebuilt, "compiled", False):
        rebuilt.compile_from_config(model.get_compile_config())
    return rebuilt
