"""LPIPS (AlexNet, v0.1) from the `lpips` package, with every weight loaded safely and offline.

The package ships its linear calibration layers; the AlexNet trunk comes from torchvision's
`alexnet-owt-7be5be79.pth`, found like every backbone (see backbones.py). Nothing is downloaded
by the lpips package itself.
"""
import os
import warnings

from ..utils.errors import RwsrError
from ..utils.logger import get_logger
from .backbones import resolve_backbone_file
from .network_files import safe_torch_load
from .frozen import FrozenNetwork


def _lpips_module():
    import lpips  # imported lazily: only LPIPS users pay for it

    return lpips


class LPIPSNetwork(FrozenNetwork):
    """forward(x, y) -> per-image LPIPS distance, shape (N, 1, 1, 1); inputs RGB in [0, 1]."""

    def __init__(self, pretrained=True, weights_dir=None, download=True):
        super().__init__()
        trunk_file = resolve_backbone_file("alexnet", weights_dir, download) if pretrained else None
        lpips = _lpips_module()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's deprecation notice for pretrained=False
            self.model = lpips.LPIPS(pretrained=False, net="alex", version="0.1", pnet_rand=True, verbose=False)
        self._load_linear_layers(lpips)
        self.pretrained = pretrained
        if pretrained:
            self._load_alexnet(trunk_file)
        else:
            get_logger().warning("LPIPS uses a RANDOM AlexNet trunk (feature_pretrained: false); "
                                 "its values are not LPIPS")
        self.freeze()

    def _load_linear_layers(self, lpips):
        path = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "alex.pth")
        state = safe_torch_load(path)
        result = self.model.load_state_dict(state, strict=False)
        missing = [key for key in result.missing_keys if key.startswith("lin") and not key.startswith("lins.")]
        if missing or result.unexpected_keys:
            raise RwsrError(f"{path}: unexpected LPIPS calibration file (reinstall the lpips package)")

    def _load_alexnet(self, path):
        stored = safe_torch_load(path)
        state = {}
        # lpips keeps torchvision's layer indices inside its slices: net.sliceK.<index>.weight
        for name, param in self.model.net.named_parameters():
            key = "features." + name.split(".", 1)[1]
            if not isinstance(stored, dict) or key not in stored or stored[key].shape != param.shape:
                raise RwsrError(f"{path}: not torchvision AlexNet weights ({key} missing or of another shape)")
            state[name] = stored[key]
        self.model.net.load_state_dict(state)

    def forward(self, x, y):
        return self.model(x, y, normalize=True)
