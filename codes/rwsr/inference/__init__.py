"""Inference: tiling, x8 self-ensemble, back-projection, backends (PyTorch, ONNX)."""
from .backends import OnnxForward, TorchForward, resolve_device  # noqa: F401
from .sr_inference import SRInference, image_to_tensor, tensor_to_uint8  # noqa: F401
