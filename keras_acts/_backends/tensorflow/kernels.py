"""TensorFlow: ParametricELU compiled by XLA on machines with only CPUs.

`fit` runs a tf.function without XLA on a CPU-only machine (Keras's
`jit_compile="auto"` turns XLA off there), and every op is then a kernel of
its own: the five forward and seven backward kernels of
`_ops.parametric_elu` cost 3.4 times `keras.layers.ELU`'s two (1e6
elements), PReLU of ELU 2.4 times. Compiled as one XLA function, called from
the step like any op, the whole op is one fused kernel each way, about 2
times ELU (docs/benchmarks.md); XLA on the CPU ships with every TensorFlow.
Inside a step that XLA compiles itself the nested function measured the
same as the op inlined, or as PReLU of ELU. With an accelerator, where
Keras compiles the step, the op is the keras.ops one.
"""

from __future__ import annotations

import functools

import tensorflow as tf

from keras_acts.layers import _ops

_compiled_parametric_elu = tf.function(_ops.parametric_elu, jit_compile=True)


@functools.cache
def _only_cpus() -> bool:
    return all(d.device_type == "CPU" for d in tf.config.list_physical_devices())


def parametric_elu(inputs, alpha):
    if _only_cpus():
        return _compiled_parametric_elu(inputs, alpha)
    return _ops.parametric_elu(inputs, alpha)
