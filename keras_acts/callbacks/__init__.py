from keras_acts.callbacks.activation_monitor import ActivationMonitor
from keras_acts.callbacks.gradient_monitor import GradientMonitor

__all__ = ["ActivationMonitor", "GradientMonitor"]
