"""keras_acts's TensorFlow modules, imported only when Keras runs on TensorFlow (see
`keras_acts._backends`)."""
