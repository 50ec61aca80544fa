"""Inference: super-resolve folders, files and arrays (tiling, x8 self-ensemble, back-projection;
PyTorch, onnxruntime or OpenVINO).

    from rwsr.inference import load_inference, super_resolve_folder
    super_resolve_folder("G.pth", "LR/", "SR/", gt="HR/", tile=256)   # files in, files out
    with load_inference("G.pth") as model:                            # arrays in, arrays out
        sr = model.run(image_to_tensor(lr_uint8))
"""
from .backends import OnnxForward, TorchForward, resolve_device  # noqa: F401
from .channels import ImageUpscaler  # noqa: F401
from .folders import FolderResult, super_resolve_folder, super_resolve_samples  # noqa: F401
from .loading import load_inference  # noqa: F401
from .model_loading import LoadedGenerator, load_generator  # noqa: F401
from .openvino_backend import OpenVinoForward  # noqa: F401
from .option_file import super_resolve_option_file  # noqa: F401
from .sr_inference import SRInference, image_to_tensor, tensor_to_uint8  # noqa: F401
from .video import super_resolve_video  # noqa: F401
