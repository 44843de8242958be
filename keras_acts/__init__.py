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
    Maxout,
    MaxoutDense,
    ParametricELU,
    PReLU,
    Standardize,
)

__all__ = [
    "ActivationMonitor",
    "Diagnosis",
    "DiagnosisWarning",
    "Flag",
    "GradientMonitor",
    "diagnose",
    "Maxout",
    "MaxoutDense",
    "PReLU",
    "ParametricELU",
    "Standardize",
    "testing",
    "__version__",
]
