from keras_acts.layers.maxout import Maxout
from keras_acts.layers.maxout_dense import MaxoutDense
from keras_acts.layers.parametric_elu import ParametricELU
from keras_acts.layers.pelu import PELU
from keras_acts.layers.prelu import PReLU
from keras_acts.layers.rrelu import RReLU
from keras_acts.layers.snake import Snake
from keras_acts.layers.srelu import SReLU
from keras_acts.layers.standardize import Standardize
from keras_acts.layers.swish import Swish

__all__ = [
    "Maxout",
    "MaxoutDense",
    "PReLU",
    "ParametricELU",
    "Standardize",
    "PELU",
    "SReLU",
    "Swish",
    "RReLU",
    "Snake",
]
