"""Inference backends: ONNX Runtime (the default, no torch needed) and torch.

`backends` chooses where a model runs; `onnx_file` reads and checks `.onnx` packages without
the onnx package; `onnx_models` runs them as engine tile models; `torch_models` runs torch
nets (imported only when torch is used); `loader` opens a package for inference.
"""
