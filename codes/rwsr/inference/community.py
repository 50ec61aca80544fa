"""Community generators through spandrel (the loader of chaiNNer and ComfyUI).

Only weights that are not our RRDB / EDL generators come here: spandrel recognises the
architecture from the state dict (Real-ESRGAN's pixel-unshuffle RRDBNet and SRVGGNetCompact,
SwinIR, HAT, ...) and builds it. The state dict was read by our own weights-only reader, so a
pickle that needs code is refused before spandrel sees anything.
"""
import warnings
from dataclasses import dataclass

from torch import nn
from torch.nn import functional as F

from ..utils.errors import RwsrError

# spandrel purposes that map one image to one image at a scale (FaceSR needs aligned faces)
_IMAGE_PURPOSES = ("SR", "Restoration")


def pad_bottom_right(x, pad_h, pad_w):
    """Pad N x C x H x W at the bottom/right: reflection as far as it reaches, then edge replication."""
    height, width = x.shape[-2], x.shape[-1]
    reflect_h, reflect_w = min(pad_h, height - 1), min(pad_w, width - 1)
    x = F.pad(x, (0, reflect_w, 0, reflect_h), mode="reflect")
    return F.pad(x, (0, pad_w - reflect_w, 0, pad_h - reflect_h), mode="replicate")


class PaddedGenerator(nn.Module):
    """A network whose input size must satisfy a minimum, a multiple and/or squareness: the input
    is padded at the bottom/right (reflection as far as it reaches, then edge replication) and
    the output cropped back, so tiles, the x8 ensemble and ONNX export see any size."""

    def __init__(self, net, scale, minimum=0, multiple_of=1, square=False):
        super().__init__()
        self.net, self.scale = net, int(scale)
        self.minimum, self.multiple_of, self.square = int(minimum), int(multiple_of), bool(square)

    def _target(self, size):
        size = max(size, self.minimum)
        return -(-size // self.multiple_of) * self.multiple_of

    def forward(self, x):
        height, width = x.shape[-2], x.shape[-1]
        target_h, target_w = self._target(height), self._target(width)
        if self.square:
            target_h = target_w = max(target_h, target_w)
        pad_h, pad_w = target_h - height, target_w - width
        if pad_h or pad_w:
            x = pad_bottom_right(x, pad_h, pad_w)
        y = self.net(x)
        return y[..., : height * self.scale, : width * self.scale] if (pad_h or pad_w) else y


class FixedSizeForward:
    """An exported graph that runs on input_size x input_size inputs only (export_onnx's input_size):
    smaller inputs are padded up to it and the output cropped; test.py's tiles never exceed it."""

    def __init__(self, forward, input_size, scale):
        self.forward, self.input_size, self.scale = forward, int(input_size), int(scale)

    def __getattr__(self, name):  # device, metadata, measure_batch, ... of the wrapped runtime
        if name == "forward":  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.forward, name)

    def __call__(self, x):
        height, width = x.shape[-2], x.shape[-1]
        if max(height, width) > self.input_size:
            raise RwsrError(f"this ONNX model takes inputs up to {self.input_size}x{self.input_size}, not "
                            f"{height}x{width}; use tiles (--tile {self.input_size // 2})")
        y = self.forward(pad_bottom_right(x, self.input_size - height, self.input_size - width))
        return y[..., : height * self.scale, : width * self.scale]


def fixed_size_tiles(settings, input_size, logger):
    """Tile settings whose windows (tile + 2 x tile_pad) are exactly input_size."""
    tile_pad = min(settings["tile_pad"], input_size // 4)
    tile = input_size - 2 * tile_pad
    if (settings["tile"], settings["tile_pad"]) != (tile, tile_pad):
        logger.info("the ONNX model was exported for %dx%d inputs: tiles of %d with %d pixels of context",
                    input_size, input_size, tile, tile_pad)
    return dict(settings, tile=tile, tile_pad=tile_pad)


@dataclass
class CommunityModel:
    net: nn.Module
    architecture: str
    scale: int
    in_nc: int
    out_nc: int
    supports_half: bool
    supports_bfloat16: bool
    tags: tuple = ()


def _first_keys(state, count=4):
    keys = list(state)
    return ", ".join(keys[:count]) + (", ..." if len(keys) > count else "")


def load_community_model(state, source):
    """CommunityModel for a state dict spandrel recognises; a one-line RwsrError otherwise."""
    try:
        import spandrel
    except ImportError:
        raise RwsrError(f"{source}: not an RRDB/EDL generator of this project; other architectures load through "
                        "spandrel: pip install spandrel") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # architecture-specific notices (e.g. timm deprecations)
            descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise RwsrError(f"{source}: not a generator this project or spandrel {spandrel.__version__} recognises "
                        f"(first keys: {_first_keys(state)})") from None
    except Exception as err:  # the architecture matched but its tensors do not build it
        detail = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise RwsrError(f"{source}: spandrel could not build the model ({detail})") from None
    name = descriptor.architecture.name
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose not in _IMAGE_PURPOSES:
        raise RwsrError(f"{source}: a {name} model ({descriptor.purpose}) is not a single-image "
                        "super-resolution or restoration generator")
    requirements = descriptor.size_requirements
    net = descriptor.model
    if not requirements.none:
        net = PaddedGenerator(net, descriptor.scale, requirements.minimum, requirements.multiple_of,
                              requirements.square)
    return CommunityModel(net=net.eval(), architecture=name, scale=int(descriptor.scale),
                          in_nc=int(descriptor.input_channels), out_nc=int(descriptor.output_channels),
                          supports_half=bool(descriptor.supports_half),
                          supports_bfloat16=bool(descriptor.supports_bfloat16), tags=tuple(descriptor.tags))

