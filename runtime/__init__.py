"""The edge runtime: video sources, frame sampling, preprocessing, the bundle
format and ONNX Runtime inference. Imports no TensorFlow or Keras."""
