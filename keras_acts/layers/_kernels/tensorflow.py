"""TensorFlow: ParametricELU as PReLU of ELU.

Without XLA (what `fit` runs on CPU by default) every op is a kernel of its
own; `tf.nn.elu` and its gradient are single fused kernels, so PReLU of ELU
(two hand-written-gradient ops, 2.4 times `keras.layers.ELU` at 1e6
elements) beats the single hand-written gradient of `_ops.parametric_elu`,
whose five forward and seven backward kernels cost 3.0 times ELU
(docs/benchmarks.md).
"""

from __future__ import annotations

from keras import ops

from keras_acts.layers import _ops


def parametric_elu(inputs, alpha):
    return _ops.prelu(ops.elu(inputs), alpha)
