"""The layers of keras_acts, once: the package's exports, the monitors' lists
of activation layers and the demo's choices are all read from `LAYERS`.

Plain data that imports nothing: the `keras-acts` command line reads this
file by its path, so that parsing its arguments imports no Keras.
"""

from typing import NamedTuple

# How `keras-acts demo` builds a hidden block with a layer.
AFTER_DENSE = "after_dense"  # a Dense layer, then the layer
AS_DENSE = "as_dense"  # the layer in place of the Dense layer, as many units


class Layer(NamedTuple):
    # The public class name, exported by keras_acts and keras_acts.layers.
    name: str
    # The module of keras_acts.layers that defines it.
    module: str
    # Whether it applies an activation (the monitors report it by `name`).
    activation: bool
    # Whether it learns activation parameters (the monitor keeps their paths).
    learned: bool
    # AFTER_DENSE or AS_DENSE where the demo offers it, else None.
    demo: str | None


# In the demo's order.
LAYERS = (
    Layer("PReLU", "prelu", activation=True, learned=True, demo=AFTER_DENSE),
    Layer(
        "ParametricELU",
        "parametric_elu",
        activation=True,
        learned=True,
        demo=AFTER_DENSE,
    ),
    Layer("Maxout", "maxout", activation=True, learned=False, demo=None),
    Layer("MaxoutDense", "maxout_dense", activation=True, learned=False, demo=AS_DENSE),
    Layer("Swish", "swish", activation=True, learned=True, demo=AFTER_DENSE),
    Layer("PELU", "pelu", activation=True, learned=True, demo=AFTER_DENSE),
    Layer("SReLU", "srelu", activation=True, learned=True, demo=AFTER_DENSE),
    Layer("Snake", "snake", activation=True, learned=True, demo=AFTER_DENSE),
    Layer("RReLU", "rrelu", activation=True, learned=False, demo=AFTER_DENSE),
    Layer("Rational", "rational", activation=True, learned=True, demo=None),
    Layer("Standardize", "standardize", activation=False, learned=False, demo=None),
)

# What `keras-acts demo` compares: Keras's classic activations, then the
# layers it offers; without --activations, the first six.
DEMO_KERAS_ACTIVATIONS = ("sigmoid", "tanh", "relu")
DEMO_ACTIVATIONS = (
    *DEMO_KERAS_ACTIVATIONS,
    *(layer.name for layer in LAYERS if layer.demo),
)
DEMO_DEFAULT_ACTIVATIONS = DEMO_ACTIVATIONS[:6]
