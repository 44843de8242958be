from keras_acts.callbacks.activation_monitor import ActivationMonitor
from keras_acts.callbacks.gradient_monitor import GradientMonitor
from keras_acts.diagnosis import DiagnosisWarning, Flag

__all__ = ["ActivationMonitor", "DiagnosisWarning", "Flag", "GradientMonitor"]
