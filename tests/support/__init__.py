"""What tests/ and benchmarks/ share: session fixtures (a pytest plugin), commands, clips, servers, processes.

Nothing here imports TensorFlow, vclf.train or vclf.export: what needs them
runs as a command in a subprocess, so runtime tests run where TensorFlow is absent.
"""
