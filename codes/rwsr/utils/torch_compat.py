"""What differs between the torch releases the project supports (the floor is in requirements.txt).

Code that uses an API newer than the floor goes through this module: a small fallback where an
older API does the same, else `require_torch`, a one-line RwsrError naming the version needed.
docs/contributing.md (Supported versions) says how the floor is measured: `make check-floor`.
"""
import re

import torch

from .errors import RwsrError


def _release(version):
    """(major, minor) of a version string such as '2.4.1+cu121' or '2.6.0a0'."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def torch_release():
    """(major, minor) of the running torch (read on each call, so tests can patch __version__)."""
    return _release(torch.__version__)


def torch_at_least(minimum):
    """minimum: 'X.Y'."""
    return torch_release() >= _release(minimum)


def torchvision_at_least(minimum):
    """minimum: '0.Y' (torchvision is imported here, so callers that never ask do not pay for it)."""
    import torchvision

    return _release(torchvision.__version__) >= _release(minimum)


def require_torch(minimum, feature):
    """A one-line RwsrError when the running torch is older than minimum ('X.Y')."""
    if not torch_at_least(minimum):
        raise RwsrError(f"{feature} needs torch>={minimum}; this is torch {torch.__version__} "
                        f"(pip install 'torch>={minimum}')", exit_code=2)


def grad_scaler(device_type, enabled):
    """torch.amp.GradScaler (torch 2.3+); before it, the CUDA scaler (disabled: a no-op anywhere)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device_type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled and device_type == "cuda")


def torchscript_onnx_kwargs():
    """torch.onnx.export keywords that select the TorchScript exporter: from 2.5 on, `dynamo=False`
    (the default turned to dynamo in 2.9); before 2.5 there is no such keyword and no other exporter."""
    return {"dynamo": False} if torch_at_least("2.5") else {}
