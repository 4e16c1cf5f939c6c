"""Training: datasets, feature extraction, the sequence model, fit and evaluate.

Importing the package loads no TensorFlow: the modules that need it take it from ``keras_import``.
"""
