"""Export: a finished run dir to an ONNX bundle, checked against Keras."""
