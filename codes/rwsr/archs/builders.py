"""Build generators and discriminators from `network_G` / `network_D` option dicts."""
import torch

from ..utils.errors import RwsrError
from .checkpoint import infer_generator_options, load_network, read_checkpoint
from .discriminators import DiscriminatorVGG128, NLayerDiscriminator
from .rrdbnet import EDLRRDBNet, RRDBNet

GENERATORS = ("RRDBNet", "RRDB")
DISCRIMINATORS = ("NLayerDiscriminator", "discriminator_vgg_128")


def _which(opt, key, valid):
    name = opt.get(key)
    if name not in valid:
        raise RwsrError(f"{key}: unknown network {name!r}; valid names: {', '.join(valid)}")
    return name


def build_generator(opt):
    """`RRDBNet`: EDL dual-branch generator (forward -> (y, y_p, y_1)); `RRDB`: plain ESRGAN (-> y)."""
    name = _which(opt, "which_model_G", GENERATORS)
    common = dict(in_nc=opt.get("in_nc", 3), out_nc=opt.get("out_nc", 3), nf=opt.get("nf", 64),
                  nb=opt.get("nb", 23), gc=opt.get("gc", 32),
                  upscale=opt.get("upscale") or opt.get("scale") or 4,
                  global_residual=bool(opt.get("global_residual", False)))
    return RRDBNet(**common) if name == "RRDB" else EDLRRDBNet(**common)


def build_discriminator(opt):
    name = _which(opt, "which_model_D", DISCRIMINATORS)
    if name == "NLayerDiscriminator":
        net = NLayerDiscriminator(in_nc=opt.get("in_nc", 3), nf=opt.get("nf", 64), nlayer=opt.get("nlayer", 3))
    else:
        net = DiscriminatorVGG128(in_nc=opt.get("in_nc", 3), nf=opt.get("nf", 64))
    if opt.get("sync_bn") and torch.distributed.is_available() and torch.distributed.is_initialized():
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    return net


def generator_output(out):
    """The SR image y from either generator's forward output."""
    return out[0] if isinstance(out, (tuple, list)) else out


def load_generator(path, options=None, strict=True, logger=None):
    """Build the generator a checkpoint was saved from and load it -> (net, network_G options).

    `options` (an option file's network_G) override what the file's metadata or tensor shapes say.
    """
    state, metadata = read_checkpoint(path)
    inferred = infer_generator_options(state, metadata)
    inferred.update({key: value for key, value in (options or {}).items() if value is not None})
    net = build_generator(inferred)
    load_network(net, state, strict=strict, logger=logger)
    return net, inferred
