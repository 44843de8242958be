from keras_acts.callbacks.gradient_monitor import GradientMonitor

__all__ = ["GradientMonitor"]
