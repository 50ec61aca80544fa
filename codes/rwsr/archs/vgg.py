"""VGG19 feature extractor for the perceptual (feature) loss."""
import torch
from torch import nn

from ..utils.errors import RwsrError
from ..utils.logger import get_logger
from .backbones import resolve_backbone_file
from .network_files import safe_torch_load
from .frozen import FrozenNetwork

# (stage, convolutions, channels) of VGG19; the layer order equals torchvision's `features`.
_VGG19_STAGES = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layer_names():
    names = []
    for stage, convs, _ in _VGG19_STAGES:
        for index in range(1, convs + 1):
            names += [f"conv{stage}_{index}", f"relu{stage}_{index}"]
        names.append(f"pool{stage}")
    return names


def _vgg19_features(last_index):
    layers, in_channels = [], 3
    for _stage, convs, channels in _VGG19_STAGES:
        for _ in range(convs):
            layers += [nn.Conv2d(in_channels, channels, 3, 1, 1), nn.ReLU(inplace=True)]
            in_channels = channels
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers[:last_index + 1])


class VGGFeatureExtractor(FrozenNetwork):
    """VGG19 up to `layer` (conv5_4 = before its ReLU, as ESRGAN); inputs are RGB in [0, 1].

    ImageNet mean/std normalisation happens inside. pretrained=False gives random weights
    (smoke tests, CPU demo) and logs a warning.
    """

    def __init__(self, layer="conv5_4", pretrained=True, weights_dir=None, use_input_norm=True, download=True):
        super().__init__()
        names = vgg19_layer_names()
        if layer not in names:
            raise RwsrError(f"train.feature_layer: unknown VGG19 layer {layer!r}; use one of "
                            "conv1_1..conv5_4, relu1_1..relu5_4, pool1..pool5")
        self.layer = layer
        self.features = _vgg19_features(names.index(layer))
        self.use_input_norm = use_input_norm
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if pretrained:
            self._load_imagenet_weights(resolve_backbone_file("vgg19", weights_dir, download))
        else:
            get_logger().warning("VGG19 feature network uses RANDOM weights (feature_pretrained: false); "
                                 "the feature loss is not perceptual")
        self.freeze()

    def _load_imagenet_weights(self, path):
        stored = safe_torch_load(path)
        wanted = {f"features.{key}": value for key, value in self.features.state_dict().items()}
        state = {}
        for key, value in wanted.items():
            if not isinstance(stored, dict) or key not in stored or stored[key].shape != value.shape:
                raise RwsrError(f"{path}: not torchvision VGG19 weights ({key} missing or of another shape)")
            state[key[len("features."):]] = stored[key]
        self.features.load_state_dict(state)

    def forward(self, x):
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        return self.features(x)
