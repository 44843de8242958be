"""The surgery behind `keras_acts.replace_activations`: which layers of a
model use the activation, how each is changed (replaced by the new layer,
followed by it, or rebuilt from its configuration with the new layer inside),
the rebuilt Sequential or Functional copy, and which uses it could not
change, with why."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import keras

from keras_acts import _private_api, _validation

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


# Functions that compute a variant of a named activation, by their names:
# keras-hub's BERT, GPT-2 and others use `gelu_approximate` (gelu's tanh
# approximation, `keras.activations.gelu(x, approximate=True)`).
_VARIANTS = {"gelu": ("gelu_approximate",)}

# Keras's activations that the frameworks' own functions of the same name
# compute with their defaults, under each name they go by. Left out: gelu
# (keras.ops.gelu and jax.nn.gelu approximate by default, Keras's gelu does
# not) and leaky_relu (each framework has its own default slope).
_SAME_FUNCTION = {
    "relu": ("relu",),
    "relu6": ("relu6",),
    "sigmoid": ("sigmoid",),
    "tanh": ("tanh",),
    "elu": ("elu",),
    "selu": ("selu",),
    "softplus": ("softplus",),
    "softsign": ("softsign",),
    "silu": ("silu", "swish"),
}
_FRAMEWORK_NAMESPACES = (
    ("keras", "ops"),
    ("tensorflow", "nn"),
    ("tensorflow", "math"),
    ("jax", "nn"),
    ("torch",),
    ("torch", "nn", "functional"),
)


def _same_functions(name: str) -> list[Any]:
    """The functions of keras.ops, TensorFlow, JAX and PyTorch that compute
    Keras's activation `name`, such as `tf.nn.relu` for "relu". Only
    frameworks already imported are looked at: a model cannot hold a function
    of one that is not."""
    found = []
    for top, *path in _FRAMEWORK_NAMESPACES:
        namespace = sys.modules.get(top)
        for part in path:
            namespace = getattr(namespace, part, None)
        for alias in _SAME_FUNCTION.get(name, ()):
            function = getattr(namespace, alias, None)
            if callable(function) and not any(function is f for f in found):
                found.append(function)
    return found


def _function_name(function: Any) -> str:
    """`module.name` of a function, as a user would write it."""
    module = getattr(function, "__module__", None) or ""
    name = getattr(function, "__qualname__", None) or getattr(
        function, "__name__", repr(function)
    )
    return f"{module}.{name}" if module else name


def _relu_arguments(layer: keras.layers.ReLU) -> str:
    """The arguments that make a ReLU layer something else than relu."""
    arguments = [
        f"{name}={value}"
        for name, value in (
            ("max_value", layer.max_value),
            ("negative_slope", layer.negative_slope),
            ("threshold", layer.threshold),
        )
        if value not in (None, 0)
    ]
    return f"ReLU({', '.join(arguments)})"


def _keep_functions(layer: Any, clone: Any) -> None:
    """Gives an unchanged layer's copy the original's activation functions:
    Keras saves any function by its name when keras.activations has one, so
    a copy from the configuration of `Dense(activation=my_relu)` (a function
    of the user's named `relu`) would compute Keras's relu instead."""
    for key, value in vars(layer).items():
        if (
            "activation" in key
            and callable(value)
            and not isinstance(value, keras.layers.Layer)
            and getattr(clone, key, None) is not value
        ):
            setattr(clone, key, value)


def _activation_attributes(config: dict) -> list[str]:
    """The keys of a layer's configuration that hold a serialized function
    under an activation argument (a lambda among them)."""
    return [
        key
        for key, value in config.items()
        if "activation" in key and isinstance(value, dict)
    ]


def _sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The layers `layer` holds as attributes, directly or in a list, tuple
    or dict: the parts of a composite layer."""
    found = []
    for value in vars(layer).values():
        if isinstance(value, dict):
            value = list(value.values())
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, keras.layers.Layer) and not any(
                item is seen for seen in found
            ):
                found.append(item)
    return found


def _unquantized(policy: Any) -> Any:
    """`policy` less its quantization: the policy of a quantized Dense
    whose activation is replaced would quantize the new layer."""
    if policy.quantization_mode is None:
        return policy
    return keras.DTypePolicy(policy.get_config()["source_name"])


def _cause(error: BaseException) -> str:
    """The first error behind `error` (Keras's from_config wraps it in a
    TypeError that repeats the whole configuration), in a line."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    message = " ".join(str(error).split())
    if len(message) > 160:
        message = message[:157] + "..."
    return f"{type(error).__name__}: {message}"


class Surgeon:
    """Rebuilds one model, recording which layers change and how."""

    def __init__(self, old: str | type, new: Callable[[], Any], capped: str):
        self.old = old
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
            name = getattr(self.function, "__name__", "")
            self.variants = _VARIANTS.get(name, ())
            self.same = _same_functions(name)
            # Names under which a function may look like `old` without being
            # known to compute it (a user's own `relu`, jax.nn.gelu).
            self.lookalike_names = {name, *_SAME_FUNCTION.get(name, ())}
        elif isinstance(old, type) and issubclass(old, keras.layers.Layer):
            self.function = None
            self.layer_class = old
            self.variants = ()
            self.same = []
            self.lookalike_names = set()
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
        # The caps that capped="keep" adds after new layers.
        self.caps_made: list[keras.layers.Layer] = []
        # (original, clone, the new layers inside the clone): the clone takes
        # the original's weights, the new layers keep their own.
        self.copied: list[tuple[Any, Any, list[keras.layers.Layer]]] = []
        # Original layer -> "replace" (the layer goes), "follow" (the layer
        # stays with a linear activation, the new layer after it) or
        # "configure" (the layer is rebuilt with the new layer as the
        # activation arguments in `self.keys`).
        self.plan: dict[int, str] = {}
        self.keys: dict[int, list[str]] = {}
        self.caps: dict[int, float] = {}
        # A configured clone -> the new layers inside it.
        self.inside: dict[int, list[keras.layers.Layer]] = {}
        # Layer -> why its configuration could not take the new layer.
        self.refused: dict[int, str] = {}
        self.names: set[str] = set()
        # The layers whose outputs are a Functional model's outputs, which
        # Keras names after them (`output_names`, the keys of compiled losses
        # and metrics): the layer that ends up computing one takes its name.
        self.output_layers: set[int] = set()
        # Layers that look like uses of `old` but compute something else, or
        # something not known to be `old`, left as they are: (layer name,
        # what it is, why).
        self.kept: list[tuple[str, str, str]] = []

    # Which layers change.
    def _is_old(self, function: Any) -> bool:
        if self.function is None or function is None:
            return False
        return (
            function is self.function
            or any(function is same for same in self.same)
            or getattr(function, "__name__", None) in self.variants
        )

    def _note_lookalike(self, layer: Any) -> None:
        """Records a layer that looks like a use of `old` and stays: a ReLU
        layer with a threshold or a negative slope (another function), or an
        activation function named like `old` that is not known to be it."""
        if (
            self.layer_class is keras.layers.ReLU
            and self.function is not None
            and isinstance(layer, keras.layers.ReLU)
            and not self._matches_layer(layer)
        ):
            self.kept.append(
                (
                    layer.name,
                    _relu_arguments(layer),
                    "another function than relu, kept (pass "
                    "old=keras.layers.ReLU to replace every ReLU layer)",
                )
            )
            return
        function = getattr(layer, "activation", None)
        if (
            isinstance(layer, keras.Model)
            or not callable(function)
            or self._is_old(function)
            or getattr(function, "__name__", None) not in self.lookalike_names
        ):
            return
        self.kept.append(
            (
                layer.name,
                f"{layer.__class__.__name__}(activation={_function_name(function)})",
                f"a function named {function.__name__!r} that replace_activations "
                f"does not know to compute Keras's {self.old!r}, kept (replace it "
                "yourself, or build the layer with "
                f"activation={self.old!r})",
            )
        )

    def _matches_layer(self, layer: Any) -> bool:
        if self.layer_class is None or not isinstance(layer, self.layer_class):
            return False
        if self.function is not None and isinstance(layer, keras.layers.ReLU):
            # A leaky or thresholded ReLU layer is not a use of "relu".
            return layer.negative_slope == 0 and layer.threshold == 0
        return True

    def _uses_old(self, layer: Any) -> bool:
        """Whether `layer` itself computes `old` (not counting its parts)."""
        if self._matches_layer(layer):
            return True
        if isinstance(layer, keras.Model):
            return False
        return self._is_old(getattr(layer, "activation", None))

    def _activation_keys(self, layer: keras.layers.Layer) -> list[str]:
        """The arguments of `layer`'s configuration that name `old` as an
        activation, such as a TransformerEncoder's `activation`."""
        if self.function is None or isinstance(layer, keras.layers.RNN):
            # A recurrent layer applies its activation at each step of a
            # loop; it stays, with a warning.
            return []
        keys = []
        for key, value in layer.get_config().items():
            if "activation" not in key or not isinstance(value, (str, dict)):
                continue
            try:
                function = keras.activations.get(value)
            except Exception:
                continue
            held = getattr(layer, key, None)
            if (
                callable(held)
                and not isinstance(held, keras.layers.Layer)
                and not self._is_old(held)
            ):
                # Saved by its name, but another function: a user's `relu`.
                continue
            if self._is_old(function):
                keys.append(key)
        return keys

    def _plan_replace(self, layer: keras.layers.Layer) -> None:
        self.plan[id(layer)] = "replace"
        # The layer goes: its replacement takes its name.
        self.names.discard(layer.name)

    def _classify(self, layer: Any) -> None:
        if not isinstance(layer, keras.layers.Layer):
            return  # An operation such as the Add of `x + y`.
        self._note_lookalike(layer)
        if isinstance(layer, keras.layers.Activation):
            if self._is_old(layer.activation):
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
        if self._uses_old(layer) and isinstance(layer, _LAYERS_WITH_FINAL_ACTIVATION):
            self.plan[id(layer)] = "follow"
            return
        keys = self._activation_keys(layer)
        if keys:
            self.plan[id(layer)] = "configure"
            self.keys[id(layer)] = keys
        # Any other use, inside the layer's computation, is found in the
        # rebuilt model and named in a warning (see `remaining`).

    # Making layers.
    def _make_new(
        self, replaced: keras.layers.Layer, keeps_name: bool | None = None
    ) -> keras.layers.Layer:
        """A layer from `new()`, named after the layer it replaces (or
        follows, or sits in), so that reports and paths say where it is:
        with its name (`keeps_name`, by default where it replaces it), or
        `<name>_<new layer>`. It is frozen where that layer is."""
        # Made under the policy of the layer it replaces: a layer that `new()`
        # gives no policy of its own computes in the model's dtypes (float64,
        # mixed precision) whatever the global policy is now, and one it
        # gives a policy (even the global one) keeps it.
        global_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(_unquantized(replaced.dtype_policy))
        try:
            layer = self.new()
        finally:
            keras.config.set_dtype_policy(global_policy)
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
        if keeps_name is None:
            action = self.plan[id(replaced)]
            keeps_name = action == "replace" or (
                action == "follow" and id(replaced) in self.output_layers
            )
        name = replaced.name
        if not keeps_name:
            name += "_" + re.sub(r"_\d+$", "", layer.name)
        layer.name = self._unique(name)
        if not replaced.trainable:
            layer.trainable = False
        self.made.append(layer)
        return layer

    def _unique(self, name: str) -> str:
        """`name`, or `name_<n>` where the model already has it."""
        unique, number = name, 0
        while unique in self.names:
            number += 1
            unique = f"{name}_{number}"
        self.names.add(unique)
        return unique

    def _configured(self, layer: keras.layers.Layer, config: dict) -> Any:
        """`layer` rebuilt from `config` with new layers as the activation
        arguments that named `old`, or None if its class refuses them."""
        new_layers = []
        for key in self.keys[id(layer)]:
            config[key] = self._make_new(layer)
            new_layers.append(config[key])
        try:
            clone = layer.__class__.from_config(config)
        except Exception as error:
            for new_layer in new_layers:
                self.made.remove(new_layer)
                self.names.discard(new_layer.name)
            del self.plan[id(layer)]
            keys = ", ".join(f"`{key}`" for key in self.keys[id(layer)])
            self.refused[id(layer)] = (
                f"its {keys} takes only names, not a layer ({_cause(error)})"
            )
            return None
        self.copied.append((layer, clone, new_layers))
        self.inside[id(clone)] = new_layers
        return clone

    def build_inside(self, clone: Any, *args: Any, **kwargs: Any) -> Any:
        """Traces `clone`'s call on symbolic inputs, so that the new layers
        inside it are built now (with their weights in the model from the
        start) even where the layer computes its output shape without its
        call, as keras-hub's TransformerEncoder does."""
        if all(layer.built for layer in self.inside.get(id(clone), [])):
            return clone.compute_output_spec(*args, **kwargs)
        return keras.Operation.compute_output_spec(clone, *args, **kwargs)

    def _clone(self, layer: Any) -> Any:
        if isinstance(layer, keras.Model):
            return self.rebuild(layer)
        self._classify(layer)
        config = layer.get_config()
        action = self.plan.get(id(layer))
        if action == "configure":
            clone = self._configured(layer, dict(config))
            if clone is not None:
                return clone
        if action == "follow":
            config["activation"] = "linear"
            if id(layer) in self.output_layers:
                # The new layer after it computes the model's output.
                self.names.discard(layer.name)
                config["name"] = self._unique(f"{layer.name}_linear")
        try:
            clone = layer.__class__.from_config(config)
        except Exception as error:
            clone = self._clone_keeping_functions(layer, config)
            if clone is None:
                raise self._unbuildable(layer, error) from error
        if action is None:
            _keep_functions(layer, clone)
        if id(layer) in self.refused:
            # Named in the warning, which looks at the rebuilt model.
            self.refused[id(clone)] = self.refused.pop(id(layer))
        # A replaced layer's clone never enters the new model: its weights
        # (a keras.layers.PReLU's slopes) go with it. An operation (the Add
        # of `x + y`) has none.
        if action != "replace" and isinstance(layer, keras.layers.Layer):
            self.copied.append((layer, clone, []))
        return clone

    def _clone_keeping_functions(self, layer: Any, config: dict) -> Any:
        """A copy of a layer that its configuration cannot rebuild because
        of a function in an activation argument (a lambda, which Keras's
        safe mode will not load, or an unregistered function): rebuilt with
        a linear activation there, then given the original's function, so
        that the layer computes what it did. None if that does not do."""
        keys = [
            key
            for key in _activation_attributes(config)
            if callable(getattr(layer, key, None))
        ]
        if not keys:
            return None
        config = dict(config)
        for key in keys:
            config[key] = "linear"
        try:
            clone = layer.__class__.from_config(config)
        except Exception:
            return None
        for key in keys:
            setattr(clone, key, getattr(layer, key))
        return clone

    def _unbuildable(self, layer: Any, error: BaseException) -> ValueError:
        lambda_advice = ""
        if isinstance(layer, keras.layers.Lambda):
            lambda_advice = (
                " A Lambda layer's function is rebuilt only with "
                "keras.config.enable_unsafe_deserialization(), which runs the "
                "code saved in it: call it first if you trust the model."
            )
        return ValueError(
            f"Layer {layer.name!r} ({layer.__class__.__name__}) cannot be "
            f"rebuilt from its get_config() ({_cause(error)}). "
            "replace_activations rebuilds every layer from its "
            "configuration, as loading a Functional model's .keras file "
            "does: make the layer's configuration round-trip (register its "
            "custom functions and classes with "
            "keras.saving.register_keras_serializable, fix its get_config), "
            "or replace the activation in the code that builds the model."
            + lambda_advice
        )

    def _replacement(self, layer: keras.layers.Layer) -> list[keras.layers.Layer]:
        """The layers that take the place of one use of `layer`."""
        capped = id(layer) in self.caps
        at_output = id(layer) in self.output_layers
        layers = [self._make_new(layer, keeps_name=not (capped and at_output))]
        if capped:
            # Named after the new layer: an automatic name (re_lu_3) could
            # be one the model already has.
            name = layer.name if at_output else f"{layers[0].name}_cap"
            layers.append(
                keras.layers.ReLU(
                    max_value=self.caps[id(layer)],
                    negative_slope=1.0,
                    name=self._unique(name),
                    dtype=layers[0].dtype_policy,
                )
            )
            self.caps_made.append(layers[-1])
        return layers

    def copy_weights(self) -> None:
        for original, clone, new_layers in self.copied:
            own = {id(weight) for layer in new_layers for weight in layer.weights}
            weights = [weight for weight in clone.weights if id(weight) not in own]
            values = original.get_weights()
            if len(weights) != len(values):
                raise RuntimeError(
                    f"replace_activations rebuilt layer {original.name!r} with "
                    f"{len(weights)} weights of its own where the original has "
                    f"{len(values)}; please report it with the layer's class, "
                    f"{original.__class__.__name__}."
                )
            for weight, value in zip(weights, values, strict=True):
                if tuple(weight.shape) != value.shape:
                    raise ValueError(
                        "replace_activations keeps the other layers' weights, "
                        f"but {weight.path!r} has shape {tuple(weight.shape)} in "
                        f"the new model where layer {original.name!r} has "
                        f"{value.shape}: the layers that `new` makes change the "
                        "shape of what they take (a Maxout of fewer units than "
                        "its inputs' features, say). `new` must keep it."
                    )
                weight.assign(value)

    # What stays.
    def remaining(self, model: keras.Model) -> dict[tuple[str, str], list[str]]:
        """The uses of `old` left in the rebuilt `model`, grouped by the
        class of the layer that computes it and why it stays: paths."""
        made = {id(layer) for layer in self.made + self.caps_made}
        seen: set[int] = set()  # A shared layer is named once.
        found: dict[tuple[str, str], list[str]] = {}

        def visit(layer, path, top, parent):
            if id(layer) in made or id(layer) in seen:
                return
            seen.add(id(layer))
            if isinstance(layer, keras.Model):
                for inner in layer.layers:
                    inner_path = f"{path}/{inner.name}" if path else inner.name
                    visit(inner, inner_path, None, None)
                return
            if self._uses_old(layer):
                why = self._why(layer, top, parent)
                found.setdefault((layer.__class__.__name__, why), []).append(path)
                return
            for part in _sublayers(layer):
                visit(part, f"{path}/{part.name}", top or layer, layer)

        visit(model, "", None, None)
        return found

    def _why(self, layer: keras.layers.Layer, top: Any, parent: Any) -> str:
        """Why a use of `old` in `layer` (a part of `parent`, inside the
        model's layer `top`) stays."""
        if id(top if top is not None else layer) in self.refused:
            return self.refused[id(top if top is not None else layer)]
        if isinstance(layer, keras.layers.RNN):
            return (
                "a recurrent layer applies it at each step of its loop (build "
                "that layer with the new activation yourself)"
            )
        if parent is None:
            return (
                "it is applied inside the layer's computation, not after it, "
                "and no argument of its configuration names it"
            )
        if isinstance(parent, keras.layers.Wrapper):
            return (
                f"it is in the layer that {parent.name} "
                f"({parent.__class__.__name__}) wraps, which replace_activations "
                "does not rebuild (give the wrapped layer the new activation, "
                "or apply the new layer after the wrapper)"
            )
        return (
            f"it is built inside {parent.name} ({parent.__class__.__name__}), "
            "whose configuration has no argument for it (change that layer's "
            "code, or use layers that take the activation as an argument)"
        )

    # Rebuilding models.
    def rebuild(self, model: keras.Model) -> keras.Model:
        if isinstance(model, keras.Sequential):
            rebuilt = self._rebuild_sequential(model)
        elif _private_api.is_functional(model):
            self.output_layers.update(
                id(model.get_layer(name)) for name in model.output_names
            )
            rebuilt = self._rebuild_functional(model)
        else:
            raise self._subclassed(model)
        if not model.trainable:
            rebuilt.trainable = False
        return rebuilt

    def _subclassed(self, model: keras.Model) -> ValueError:
        return ValueError(
            "replace_activations rebuilds Sequential and Functional models "
            "(keras.applications models and keras-hub backbones too). Model "
            f"{model.name!r} is a subclassed {model.__class__.__name__}: its "
            "layers are wired in its own call(), which cannot be rewritten. "
            "Either build the same network as a Functional model "
            "(keras.Model(inputs, outputs)) and pass that, or make the change "
            "in its code: create the new layers in __init__ (one per use) and "
            "apply them in call() where it applies the activation, in place of "
            "a keras.activations function, an Activation layer or a layer's "
            "activation= argument."
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
        if not inputs:
            return keras.Sequential(layers, name=model.name)
        (tensor,) = inputs
        # An input named by the user keeps its name; Keras names the others.
        named = not re.fullmatch(r"keras_tensor(_\d+)?", tensor.name)
        outputs = keras.Input(
            batch_shape=tensor.shape,
            dtype=tensor.dtype,
            name=tensor.name if named else None,
        )
        rebuilt = keras.Sequential([outputs] + layers, name=model.name)
        if self.inside:
            for layer in layers:
                outputs = self.build_inside(layer, outputs)
        return rebuilt

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
            if id(clone) in self.inside:
                self.build_inside(clone, *args, **kwargs)
            if action == "follow":
                return self._make_new(original)(outputs)
            return outputs

        originals: dict[int, Any] = {}

        def clone_layer(layer):
            clone = self._clone(layer)
            originals[id(clone)] = layer
            return clone

        return keras.models.clone_model(
            model, clone_function=clone_layer, call_function=call
        )
