"""TensorFlow: ParametricELU compiled by XLA on machines with only CPUs.

`fit` runs a tf.function without XLA on a CPU-only machine (Keras's
`jit_compile="auto"` turns XLA off there), and every op is then a kernel of
its own: the five forward and seven backward kernels of
`_ops.parametric_elu` cost 3.4 times `keras.layers.ELU`'s two (1e6
elements), PReLU of ELU 2.5 times. Compiled as one XLA function, called from
the step like any op, the whole op is one fused kernel each way, 1.8 to 1.9
times ELU (docs/benchmarks.md); XLA on the CPU ships with every TensorFlow.
Inside a step that XLA compiles anyway, and with an accelerator (where Keras
compiles the step itself), the op is the keras.ops one.
"""

from __future__ import annotations

import functools

import tensorflow as tf

from keras_acts.layers import _ops

_compiled_parametric_elu = tf.function(_ops.parametric_elu, jit_compile=True)


@functools.cache
def _only_cpus() -> bool:
    return all(d.device_type == "CPU" for d in tf.config.list_physical_devices())


def _in_compiled_function() -> bool:
    """Whether the op is traced into a function that XLA compiles. The check
    is TensorFlow's own, private: where it is missing, the op is compiled on
    its own inside such a function too (1.7 times ELU there, against 1.5
    inlined)."""
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:
        return False
    graph = tf.compat.v1.get_default_graph()
    return control_flow_util.GraphOrParentsInXlaContext(graph)


def parametric_elu(inputs, alpha):
    if _only_cpus() and not _in_compiled_function():
        return _compiled_parametric_elu(inputs, alpha)
    return _ops.parametric_elu(inputs, alpha)
