"""Standardize in a tf.data pipeline on the JAX and PyTorch backends, where
the tensors are TensorFlow's and keras.ops would be the backend's."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_acts.layers import standardize as standardize_module


def standardize(layer, inputs):
    """`layer`'s computation in TensorFlow ops; the statistics are read when
    the pipeline is traced."""
    if not inputs.dtype.is_floating:
        inputs = tf.cast(inputs, layer.compute_dtype)
    mean = np.reshape(keras.ops.convert_to_numpy(layer.mean), layer._broadcast_shape)
    variance = np.reshape(
        keras.ops.convert_to_numpy(layer.variance), layer._broadcast_shape
    )
    std = standardize_module.standard_deviation(variance, layer.epsilon)
    mean = tf.constant(mean, inputs.dtype)
    std = tf.constant(std, inputs.dtype)
    if layer.invert:
        outputs = inputs * std if layer.scale else inputs
        return outputs + mean if layer.center else outputs
    outputs = inputs - mean if layer.center else inputs
    return outputs / std if layer.scale else outputs
