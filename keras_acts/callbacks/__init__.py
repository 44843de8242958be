from keras_acts.callbacks.activation_monitor import ActivationMonitor
from keras_acts.callbacks.diagnosis_warning import DiagnosisWarning
from keras_acts.callbacks.flag import Flag
from keras_acts.callbacks.gradient_monitor import GradientMonitor

__all__ = ["ActivationMonitor", "DiagnosisWarning", "Flag", "GradientMonitor"]
