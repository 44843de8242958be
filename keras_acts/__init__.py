"""Trainable activations, training diagnostics and input preprocessing for Keras 3."""

__version__ = "0.1.0"

from keras_acts import testing
from keras_acts.callbacks import (
    ActivationMonitor,
    DiagnosisWarning,
    Flag,
    GradientMonitor,
)
from keras_acts.diagnose import diagnose
from keras_acts.diagnosis import Diagnosis
from keras_acts.layers import (
    PELU,
    Maxout,
    MaxoutDense,
    ParametricELU,
    PReLU,
    RReLU,
    Snake,
    SReLU,
    Standardize,
    Swish,
)
from keras_acts.replace_activations import replace_activations

__all__ = [
    "ActivationMonitor",
    "Diagnosis",
    "DiagnosisWarning",
    "Flag",
    "GradientMonitor",
    "diagnose",
    "replace_activations",
    "Maxout",
    "MaxoutDense",
    "PReLU",
    "ParametricELU",
    "PELU",
    "SReLU",
    "Standardize",
    "Swish",
    "RReLU",
    "Snake",
    "testing",
    "__version__",
]
