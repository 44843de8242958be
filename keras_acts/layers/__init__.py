"""The layers of keras_acts, as `_registry` lists them.

The imports and `__all__` are written out, not generated from the registry:
Griffe, which builds the API reference, reads the package without running
it. tests/test_registry.py checks that they are the registry's.
"""

from keras_acts.layers import _registry
from keras_acts.layers.maxout import Maxout
from keras_acts.layers.maxout_dense import MaxoutDense
from keras_acts.layers.parametric_elu import ParametricELU
from keras_acts.layers.pelu import PELU
from keras_acts.layers.prelu import PReLU
from keras_acts.layers.rational import Rational
from keras_acts.layers.rrelu import RReLU
from keras_acts.layers.snake import Snake
from keras_acts.layers.srelu import SReLU
from keras_acts.layers.standardize import Standardize
from keras_acts.layers.swish import Swish

__all__ = [
    "PReLU",
    "ParametricELU",
    "Maxout",
    "MaxoutDense",
    "Swish",
    "PELU",
    "SReLU",
    "Snake",
    "RReLU",
    "Rational",
    "Standardize",
]

# For the monitors: each activation layer, by the name they report it under,
# and those whose activation parameters are learned.
ACTIVATION_LAYERS: dict[type, str] = {
    globals()[layer.name]: layer.name for layer in _registry.LAYERS if layer.activation
}
LEARNED_ACTIVATION_LAYERS: tuple[type, ...] = tuple(
    globals()[layer.name] for layer in _registry.LAYERS if layer.learned
)
