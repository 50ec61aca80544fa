"""LPIPS (AlexNet, v0.1) as a metric, only ever with pretrained weights.

The network (package calibration layers + torchvision's AlexNet file, both
loaded safely) is rwsr.archs' LPIPSNetwork. When the AlexNet file cannot be
found the metric is skipped with a reason: LPIPS computed on random weights
would be a meaningless number.
"""
import numpy as np
import torch

from ..archs.backbones import BACKBONE_FILES, backbone_folder, resolve_backbone_file
from ..archs.lpips_net import LPIPSNetwork
from ..utils.errors import RwsrError


class LPIPSMetric:
    """LPIPS distance of two uint8 HxWx3 RGB images (lower is better)."""

    def __init__(self, network, device):
        self.device = torch.device(device)
        self.network = network.to(self.device)

    def _to_tensor(self, img):
        tensor = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)
        return tensor.unsqueeze(0).to(self.device)

    def __call__(self, img1, img2):
        if img1.shape != img2.shape:
            raise ValueError(f"image shapes differ: {img1.shape} vs {img2.shape}")
        with torch.inference_mode():
            return float(self.network(self._to_tensor(img1), self._to_tensor(img2)).item())


def create_lpips_metric(device="cpu", weights_dir=None, pretrained=True, download=True):
    """(LPIPSMetric, None) when pretrained weights are at hand, else (None, reason)."""
    if not pretrained:
        return None, "LPIPS skipped: pretrained weights were not requested"
    try:
        import lpips  # noqa: F401  (optional dependency)
    except ImportError:
        return None, "LPIPS skipped: the lpips package is not installed (pip install lpips)"
    try:
        resolve_backbone_file("alexnet", weights_dir, download=download)
    except RwsrError:
        return None, (f"LPIPS skipped: {BACKBONE_FILES['alexnet']} not found in {backbone_folder(weights_dir)} "
                      "(copy torchvision's AlexNet weights there or set path.pretrained_backbones)")
    try:
        network = LPIPSNetwork(pretrained=True, weights_dir=weights_dir, download=False)
    except RwsrError as err:
        return None, f"LPIPS skipped: {err}"
    return LPIPSMetric(network, device), None
