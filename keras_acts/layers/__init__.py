from keras_acts.layers.maxout import Maxout
from keras_acts.layers.maxout_dense import MaxoutDense
from keras_acts.layers.parametric_elu import ParametricELU
from keras_acts.layers.prelu import PReLU
from keras_acts.layers.standardize import Standardize

__all__ = ["Maxout", "MaxoutDense", "PReLU", "ParametricELU", "Standardize"]
