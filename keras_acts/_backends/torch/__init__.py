"""keras_acts's PyTorch modules, imported only when Keras runs on PyTorch (see
`keras_acts._backends`)."""
