"""From the chosen network to the files a device runs, checked under each runtime.

- :mod:`~sparsemod.deploy.host`: TorchScript and ONNX of sparsemod's own int8 model.
- :mod:`~sparsemod.deploy.tflite`: ``.tflite`` for TensorFlow Lite Micro, run under TFLM.
- :mod:`~sparsemod.deploy.executorch`: ``.pte`` for ExecuTorch, run under its runtime.

Both runtimes take a PT2E int8 model (:mod:`sparsemod.quantize.pt2e`) made by their own quantizer.
"""
