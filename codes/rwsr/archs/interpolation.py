"""Network interpolation (ESRGAN's net_interp): (1 - alpha) A + alpha B, tensor by tensor.

Between a PSNR-oriented and a GAN-trained generator of one architecture, alpha is a
perception-distortion knob (Real-ESRGAN's "denoise strength" is the same blend).
"""
import os

import torch

from ..utils.errors import RwsrError
from .network_files import GENERATOR_KEYS, read_checkpoint, save_network
from .state_names import normalise_keys, to_basicsr_names


def check_alpha(alpha, option="--alpha"):
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise RwsrError(f"{option}: {alpha} is outside [0, 1] (0 gives the first model, 1 the second)", exit_code=2)
    return alpha


def _shape(tensor):
    return "x".join(map(str, tensor.shape)) or "scalar"


def _first_mismatch(state_a, state_b):
    """A sentence about the first tensor (in A's order) that A and B do not share, or None."""
    for key, tensor in state_a.items():
        if key not in state_b:
            return f"tensor {key} is missing"
        other = state_b[key]
        if other.shape != tensor.shape:
            return f"tensor {key} has shape {_shape(other)}, not {_shape(tensor)}"
        if not tensor.is_floating_point() and not torch.equal(tensor, other):
            return f"tensor {key} (integer, not interpolated) differs"
    extra = next((key for key in state_b if key not in state_a), None)
    return f"tensor {extra} is not in the first model" if extra else None


def _check_metadata(meta_a, meta_b, name_b):
    """Architecture options the shapes cannot show (upscale x2/x3, global_residual) must agree too."""
    for key in GENERATOR_KEYS:
        if meta_a.get(key) is not None and meta_b.get(key) is not None and meta_a[key] != meta_b[key]:
            raise RwsrError(f"{name_b}: metadata {key} is {meta_b[key]!r}, the first model's is {meta_a[key]!r}; "
                            "interpolation needs two models of the same architecture")


def interpolate_states(state_a, state_b, alpha, name_b="second model"):
    """(1 - alpha) A + alpha B for two state dicts of one architecture, with A's key names.

    Keys are compared after removing `module.` and mapping BasicSR names, so an official and a
    BasicSR-named file blend. Floating tensors are blended in float32 (float64 stays float64) and
    stored in A's dtype; integer buffers must be equal and are copied.
    """
    alpha = check_alpha(alpha)
    normal_a, convention = normalise_keys(state_a)
    normal_b, _ = normalise_keys(state_b)
    mismatch = _first_mismatch(normal_a, normal_b)
    if mismatch:
        raise RwsrError(f"{name_b}: {mismatch}; interpolation needs two models of the same architecture")
    blended = {}
    for key, tensor in normal_a.items():
        if tensor.is_floating_point():
            work = torch.float64 if tensor.dtype == torch.float64 else torch.float32
            mixed = torch.lerp(tensor.to(work), normal_b[key].to(work), alpha)
            blended[key] = mixed.to(tensor.dtype)
        else:
            blended[key] = tensor.clone()
    return to_basicsr_names(blended) if convention == "basicsr" else blended


def read_interpolated(path_a, path_b, alpha):
    """(blended state dict, metadata of A) of two network files."""
    state_a, meta_a = read_checkpoint(path_a)
    state_b, meta_b = read_checkpoint(path_b)
    _check_metadata(meta_a, meta_b, os.fspath(path_b))
    return interpolate_states(state_a, state_b, alpha, name_b=os.fspath(path_b)), meta_a


def interpolate_files(path_a, path_b, alpha, output, overwrite=False):
    """Write (1 - alpha) A + alpha B to output (.pth, or .safetensors by suffix) with A's metadata."""
    output = os.fspath(output)
    if os.path.exists(output) and not overwrite:
        raise RwsrError(f"{output}: exists; pass --overwrite to replace it", exit_code=2)
    if os.path.abspath(output) in (os.path.abspath(path_a), os.path.abspath(path_b)):
        raise RwsrError(f"{output}: the output must not be one of the inputs", exit_code=2)
    state, metadata = read_interpolated(path_a, path_b, alpha)
    return save_network(state, output, metadata=metadata)
