"""keras_acts's JAX modules, imported only when Keras runs on JAX (see
`keras_acts._backends`)."""
