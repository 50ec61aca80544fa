"""Build generators and discriminators from `network_G` / `network_D` option dicts."""
import torch

from ..options.schema import NETWORK_D, NETWORK_G, with_defaults
from ..utils.errors import RwsrError
from .discriminators import DiscriminatorVGG128, NLayerDiscriminator
from .rrdbnet import EDLRRDBNet, RRDBNet

GENERATORS = NETWORK_G["which_model_G"].choices
DISCRIMINATORS = NETWORK_D["which_model_D"].choices


def _which(opt, key, valid):
    name = opt.get(key)
    if name not in valid:
        raise RwsrError(f"{key}: unknown network {name!r}; valid names: {', '.join(valid)}")
    return name


def build_generator(opt):
    """`RRDBNet`: EDL dual-branch generator (forward -> (y, y_p, y_1)); `RRDB`: plain ESRGAN (-> y).

    opt: a network_G section; missing keys take the schema's defaults (upscale: opt's scale, else 4).
    """
    name = _which(opt, "which_model_G", GENERATORS)
    opt = with_defaults(NETWORK_G, opt)
    common = dict(in_nc=opt["in_nc"], out_nc=opt["out_nc"], nf=opt["nf"], nb=opt["nb"], gc=opt["gc"],
                  upscale=opt["upscale"] or opt.get("scale") or 4, global_residual=bool(opt["global_residual"]))
    return RRDBNet(**common) if name == "RRDB" else EDLRRDBNet(**common)


def build_discriminator(opt):
    name = _which(opt, "which_model_D", DISCRIMINATORS)
    opt = with_defaults(NETWORK_D, opt)
    if name == "NLayerDiscriminator":
        net = NLayerDiscriminator(in_nc=opt["in_nc"], nf=opt["nf"], nlayer=opt["nlayer"])
    else:
        net = DiscriminatorVGG128(in_nc=opt["in_nc"], nf=opt["nf"])
    if opt["sync_bn"] and torch.distributed.is_available() and torch.distributed.is_initialized():
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    return net


def generator_outputs(out):
    """(y, y_p, y_1) from the EDL generator's forward; a plain generator's y stands for all three."""
    if isinstance(out, (tuple, list)):
        return out[0], out[1], out[2]
    return out, out, out
