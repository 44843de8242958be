"""Model surgery: every use of one activation replaced by a new layer."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import keras

from keras_acts import _validation

# Layers whose activation is the last thing their call does, so that the
# same layer with a linear activation, followed by the new layer, computes
# what the original did with the activation swapped.
_LAYERS_WITH_FINAL_ACTIVATION = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)


def _is_functional(model: keras.Model) -> bool:
    # Keras's Functional class (also behind keras.applications models) is
    # not public; a subclassed model has no graph to rebuild.
    return any(
        cls.__name__ == "Functional" and cls.__module__.startswith("keras.")
        for cls in type(model).__mro__
    )


class _Surgeon:
    """Rebuilds one model, recording which layers change and how."""

    def __init__(self, old: str | type, new: Callable[[], Any], capped: str):
        if isinstance(old, str):
            try:
                self.function = keras.activations.get(old)
            except ValueError:
                raise ValueError(
                    "`old` must be an activation name that keras.activations.get "
                    f"resolves, or a layer class. Received: old={old!r}"
                ) from None
            self.layer_class = (
                keras.layers.ReLU if self.function is (keras.activations.relu) else None
            )
        elif isinstance(old, type) and issubclass(old, keras.layers.Layer):
            self.function = None
            self.layer_class = old
        else:
            raise ValueError(
                "`old` must be an activation name such as 'relu', or a layer "
                f"class such as keras.layers.ReLU. Received: old={old!r}"
            )
        if isinstance(new, keras.layers.Layer):
            raise ValueError(
                "`new` must make a new layer on each call, such as the class "
                f"keras_acts.{new.__class__.__name__} or a lambda, not one "
                f"layer instance. Received: new={new!r}"
            )
        if not callable(new):
            raise ValueError(
                "`new` must be a callable that takes no arguments and returns a "
                f"new Keras layer. Received: new={new!r}"
            )
        self.new = new
        self.capped = _validation.one_of("capped", capped, ("refuse", "keep"))
        self.made: list[keras.layers.Layer] = []
        self.copied: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []
        # Original layer -> "replace" (the layer goes) or "follow" (the layer
        # stays with a linear activation, the new layer after it).
        self.plan: dict[int, str] = {}
        self.caps: dict[int, float] = {}
        self.skipped: list[str] = []
        self.names: set[str] = set()

    # Which layers change.
    def _matches_layer(self, layer: keras.layers.Layer) -> bool:
        if self.layer_class is None or not isinstance(layer, self.layer_class):
            return False
        if self.function is not None and isinstance(layer, keras.layers.ReLU):
            # A leaky or thresholded ReLU layer is not a use of "relu".
            return layer.negative_slope == 0 and layer.threshold == 0
        return True

    def _plan_replace(self, layer: keras.layers.Layer) -> None:
        self.plan[id(layer)] = "replace"
        # The layer goes: its replacement takes its name.
        self.names.discard(layer.name)

    def _classify(self, layer: keras.layers.Layer) -> None:
        if isinstance(layer, keras.layers.Activation):
            if self.function is not None and layer.activation is self.function:
                self._plan_replace(layer)
                return
        if self._matches_layer(layer):
            self._plan_replace(layer)
            max_value = getattr(layer, "max_value", None)
            if isinstance(layer, keras.layers.ReLU) and max_value is not None:
                if self.capped == "refuse":
                    raise ValueError(
                        f"Layer {layer.name!r} is ReLU(max_value={max_value}): "
                        "replacing it would drop its cap. Pass capped='keep' to "
                        f"cap the new activation at {max_value} (a "
                        "keras.layers.ReLU(max_value, negative_slope=1.0) after "
                        "it), or replace it yourself."
                    )
                self.caps[id(layer)] = float(max_value)
            return
        if (
            self.function is not None
            and getattr(layer, "activation", None) is self.function
            and not isinstance(layer, keras.Model)
        ):
            if isinstance(layer, _LAYERS_WITH_FINAL_ACTIVATION):
                self.plan[id(layer)] = "follow"
            else:
                self.skipped.append(f"{layer.name} ({layer.__class__.__name__})")

    # Making layers.
    def _make_new(self, replaced: keras.layers.Layer) -> keras.layers.Layer:
        """A layer from `new()`, named after the layer it replaces (or
        follows), so that reports and paths say where it sits."""
        layer = self.new()
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                f"`new` must return a Keras layer. Received: new() returned {layer!r}"
            )
        if any(layer is made for made in self.made):
            raise ValueError(
                "`new` must return a new layer on each call: each use of the "
                "activation gets its own layer (their inputs can differ in "
                f"shape). Received the same layer {layer.name!r} twice."
            )
        name = replaced.name
        if self.plan[id(replaced)] == "follow":
            name += "_" + re.sub(r"_\d+$", "", layer.name)
        unique, number = name, 0
        while unique in self.names:
            number += 1
            unique = f"{name}_{number}"
        self.names.add(unique)
        layer.name = unique
        self.made.append(layer)
        return layer

    def _clone(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.Model):
            return self.rebuild(layer)
        self._classify(layer)
        config = layer.get_config()
        if self.plan.get(id(layer)) == "follow":
            config["activation"] = "linear"
        clone = layer.__class__.from_config(config)
        # A replaced layer's clone never enters the new model: its weights
        # (a keras.layers.PReLU's slopes) go with it.
        if self.plan.get(id(layer)) != "replace":
            self.copied.append((layer, clone))
        return clone

    def _replacement(self, layer: keras.layers.Layer) -> list[keras.layers.Layer]:
        """The layers that take the place of one use of `layer`."""
        layers = [self._make_new(layer)]
        if id(layer) in self.caps:
            layers.append(
                keras.layers.ReLU(max_value=self.caps[id(layer)], negative_slope=1.0)
            )
        return layers

    # Rebuilding models.
    def rebuild(self, model: keras.Model) -> keras.Model:
        if isinstance(model, keras.Sequential):
            return self._rebuild_sequential(model)
        if _is_functional(model):
            return self._rebuild_functional(model)
        raise ValueError(
            "replace_activations rebuilds Sequential and Functional models "
            f"(keras.applications models too). Model {model.name!r} is a "
            f"subclassed {model.__class__.__name__}: its layers are wired in "
            "Python code that cannot be rewritten; change the activation there."
        )

    def _rebuild_sequential(self, model: keras.Sequential) -> keras.Sequential:
        layers = []
        for layer in model.layers:
            clone = self._clone(layer)
            action = self.plan.get(id(layer))
            if action == "follow":
                layers += [clone, self._make_new(layer)]
            elif action == "replace":
                layers += self._replacement(layer)
            else:
                layers.append(clone)
        inputs = getattr(model, "inputs", None) if model.built else None
        if inputs:
            (tensor,) = inputs
            layers.insert(0, keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype))
        return keras.Sequential(layers, name=model.name)

    def _rebuild_functional(self, model: keras.Model) -> keras.Model:
        def call(clone, *args, **kwargs):
            original = originals[id(clone)]
            action = self.plan.get(id(original))
            if action == "replace":
                outputs = args[0]
                for layer in self._replacement(original):
                    outputs = layer(outputs)
                return outputs
            outputs = clone(*args, **kwargs)
            if action == "follow":
                return self._make_new(original)(outputs)
            return outputs

        originals: dict[int, keras.layers.Layer] = {}

        def clone_layer(layer):
            clone = self._clone(layer)
            originals[id(clone)] = layer
            return clone

        return keras.models.clone_model(
            model, clone_function=clone_layer, call_function=call
        )


def _layer_names(model: keras.Model) -> set[str]:
    """The names of every layer in `model`, nested models' layers too."""
    names = set()
    for layer in model.layers:
        names.add(layer.name)
        if isinstance(layer, keras.Model):
            names |= _layer_names(layer)
    return names


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
      `keras.layers.ReLU` layers that compute a plain ReLU (a leaky or
      thresholded one is another function, and stays): each is replaced by
      the new layer;
    - with a layer class as `old`, every layer of that class.

    Sequential, Functional and nested models are rebuilt, keras.applications
    models included. Every other layer is a copy with the original's
    weights; the new layers are fresh. The copy is compiled like the original
    when the original was compiled (optimizer state is not copied).

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
        ValueError: for a subclassed model, an `old` that names no
            activation, a `new` that does not make a new layer on each call,
            a capped ReLU with `capped="refuse"`, or a model with no use of
            `old`.

    Warns:
        UserWarning: naming the layers that use `old` inside their own
            computation (such as `keras.layers.SimpleRNN(activation="relu")`)
            and are left unchanged.

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
    surgeon = _Surgeon(old, new, capped)
    surgeon.names = _layer_names(model)
    rebuilt = surgeon.rebuild(model)
    if not surgeon.made:
        raise ValueError(
            f"Model {model.name!r} has no use of {old!r} to replace"
            + (
                f"; these layers use it inside their own computation: "
                f"{', '.join(surgeon.skipped)}"
                if surgeon.skipped
                else "."
            )
        )
    if surgeon.skipped:
        warnings.warn(
            f"replace_activations left {', '.join(surgeon.skipped)} unchanged: "
            f"{old!r} is applied inside their computation, not after it.",
            stacklevel=2,
        )
    for original, clone in surgeon.copied:
        clone.set_weights(original.get_weights())
    if getattr(model, "compiled", False) and not getattr(rebuilt, "compiled", False):
        rebuilt.compile_from_config(model.get_compile_config())
    return rebuilt
