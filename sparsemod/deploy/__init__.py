"""From the chosen network to the files a device runs, checked under each runtime.

- :mod:`~sparsemod.deploy.host`: TorchScript and ONNX of sparsemod's own int8 model.
- :mod:`~sparsemod.deploy.pt2e`: PT2E static int8, the flow both microcontroller runtimes take.
- :mod:`~sparsemod.deploy.tflite`: ``.tflite`` for TensorFlow Lite Micro, run under TFLM.
- :mod:`~sparsemod.deploy.executorch`: ``.pte`` for ExecuTorch, run under its runtime.
"""
