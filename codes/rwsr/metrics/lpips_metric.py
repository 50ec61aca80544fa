"""LPIPS (AlexNet, v0.1) as a metric, only ever with pretrained weights.

The linear calibration layers ship inside the `lpips` package; the AlexNet
backbone is torchvision's `alexnet-owt-7be5be79.pth`, found by the project's
backbone lookup. When either is missing the metric is skipped with a reason:
LPIPS computed on random weights would be a meaningless number.
"""
import os
import re
import warnings

import numpy as np
import torch

from ..archs.backbones import BACKBONE_FILES, backbone_folder, resolve_backbone_file
from ..utils.errors import RwsrError

_SLICE_KEY = re.compile(r"^net\.slice\d+\.(\d+)\.(weight|bias)$")


class LPIPSMetric:
    """lpips distance of two uint8 HxWx3 RGB images (lower is better)."""

    def __init__(self, model, device):
        self.model = model.eval().to(device)
        self.device = device

    def _to_tensor(self, img):
        tensor = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()
        return (tensor / 127.5 - 1.0).unsqueeze(0).to(self.device)

    def __call__(self, img1, img2):
        if img1.shape != img2.shape:
            raise ValueError(f"image shapes differ: {img1.shape} vs {img2.shape}")
        with torch.inference_mode():
            return float(self.model(self._to_tensor(img1), self._to_tensor(img2)).item())


def _load_weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _lpips_state(model, alexnet_state, linear_state):
    """The model's state with backbone and linear layers replaced by the pretrained ones."""
    state = model.state_dict()
    for key in state:
        match = _SLICE_KEY.match(key)
        if match:
            state[key] = alexnet_state[f"features.{match.group(1)}.{match.group(2)}"]
        elif key.startswith(("lin", "lins.")):
            source = re.sub(r"^lins\.(\d+)\.", r"lin\1.", key)
            state[key] = linear_state[source]
    return state


def create_lpips_metric(device="cpu", weights_dir=None, pretrained=True, download=True):
    """(LPIPSMetric, None) when pretrained weights are at hand, else (None, reason)."""
    if not pretrained:
        return None, "LPIPS skipped: pretrained weights were not requested"
    try:
        import lpips
    except ImportError:
        return None, "LPIPS skipped: the lpips package is not installed (pip install lpips)"
    alexnet_file = BACKBONE_FILES["alexnet"]
    try:
        alexnet_path = resolve_backbone_file("alexnet", weights_dir, download=download)
    except RwsrError:
        return None, (f"LPIPS skipped: {alexnet_file} not found in {backbone_folder(weights_dir)} "
                      "(copy torchvision's AlexNet weights there or set path.pretrained_backbones)")
    linear_path = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "alex.pth")
    # pnet_rand/pretrained=False: build the layers only; every weight is replaced below.
    with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained` argument
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=False, pnet_rand=True, verbose=False)
    try:
        state = _lpips_state(model, _load_weights(alexnet_path), _load_weights(linear_path))
        model.load_state_dict(state, strict=True)
    except (OSError, RuntimeError, KeyError, EOFError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, f"LPIPS skipped: cannot load {alexnet_path} or {linear_path} ({first_line})"
    return LPIPSMetric(model, torch.device(device)), None
