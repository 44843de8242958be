"""Trainable activations, training diagnostics and input preprocessing for Keras 3."""

__version__ = "0.1.0"

from keras_acts import layers, testing
from keras_acts.callbacks import (
    ActivationMonitor,
    DiagnosisWarning,
    Flag,
    GradientMonitor,
)
from keras_acts.diagnose import diagnose
from keras_acts.diagnosis import Diagnosis
from keras_acts.layers import *  # noqa: F403  (the names of layers.__all__)
from keras_acts.replace_activations import replace_activations

__all__ = [
    "ActivationMonitor",
    "Diagnosis",
    "DiagnosisWarning",
    "Flag",
    "GradientMonitor",
    "diagnose",
    "replace_activations",
    *layers.__all__,
    "testing",
    "__version__",
]
