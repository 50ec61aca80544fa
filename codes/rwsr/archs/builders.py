"""Build generators and discriminators from `network_G` / `network_D` option dicts.

Names resolve through rwsr.utils.registry: a registered name (rwsr.archs.registry) or an import path
`module:Class` whose module is allowed by `plugins`.
"""
import torch

from ..options.schema import NETWORK_D, NETWORK_G, with_defaults
from ..utils.errors import RwsrError
from ..utils.registry import check_arguments, constructor_arguments, is_import_path
from .registry import DISCRIMINATORS, GENERATORS

# The EDL generator's outputs, in the order of its forward.
GENERATOR_OUTPUTS = ("y", "y_p", "y_1")


def _plugin_arguments(cls, options, name_key):
    """The constructor's keyword arguments of a plugin network: the section's keys as given.

    `scale` (the top-level factor, added by callers) is passed only if the class takes it; a class
    taking `upscale` that the section leaves out gets the scale there.
    """
    kwargs = {key: value for key, value in options.items() if key != name_key}
    taken = {argument.name for argument in constructor_arguments(cls)[0]}
    scale = kwargs.pop("scale", None) if "scale" not in taken else kwargs.get("scale")
    if "upscale" in taken and kwargs.get("upscale") is None and scale is not None:
        kwargs["upscale"] = scale
    return kwargs


def _arguments(registry, options, section, name_key, registered_kwargs, plugins, search_dirs):
    """(class, its label, the checked keyword arguments) that a network section describes."""
    name = options.get(name_key)
    if name is None:
        raise RwsrError(f"{section}.{name_key}: missing; registered: {', '.join(registry.names())}", exit_code=2)
    if is_import_path(name):
        cls, label = registry.resolve(name, plugins, search_dirs)
        kwargs = _plugin_arguments(cls, options, name_key)
    else:
        cls, label = registry.resolve(name)
        kwargs = registered_kwargs(cls)
    check_arguments(cls, label, kwargs, section)
    return cls, label, kwargs


def _registered_generator_arguments(opt):
    def registered(cls):
        filled = with_defaults(NETWORK_G, opt)
        return dict(in_nc=filled["in_nc"], out_nc=filled["out_nc"], nf=filled["nf"], nb=filled["nb"],
                    gc=filled["gc"], upscale=filled["upscale"] or opt.get("scale") or 4,
                    global_residual=bool(filled["global_residual"]))
    return registered


def generator_arguments(opt, plugins=(), search_dirs=()):
    """(class, label, keyword arguments) of the generator a network_G section describes (see build_generator)."""
    return _arguments(GENERATORS, opt, "network_G", "which_model_G", _registered_generator_arguments(opt), plugins,
                      search_dirs)


def build_generator(opt, plugins=(), search_dirs=()):
    """The generator a network_G section describes.

    `RRDBNet`: EDL dual-branch generator (forward -> (y, y_p, y_1)); `RRDB`: plain ESRGAN (-> y); for
    these, missing keys take the schema's defaults (upscale: opt's upscale, else its scale, else 4).
    `module:Class`: the user's class with the section's other keys as keyword arguments; its module
    must be named in plugins (the option file's own modules, or --plugin), search_dirs are tried
    before PYTHONPATH (the option file's folder).
    """
    cls, _, kwargs = generator_arguments(opt, plugins, search_dirs)
    return cls(**kwargs)


def build_discriminator(opt, plugins=(), search_dirs=()):
    """The discriminator a network_D section describes (registered name or import path, as for G).

    `sync_bn` converts BatchNorm layers under DDP; it is no constructor argument.
    """
    opt = dict(opt)
    sync_bn = opt.pop("sync_bn", False)

    def registered(cls):
        filled = with_defaults(NETWORK_D, opt)
        taken = {argument.name for argument in constructor_arguments(cls)[0]}
        return {key: filled[key] for key in ("in_nc", "nf", "nlayer") if key in taken}

    cls, _, kwargs = _arguments(DISCRIMINATORS, opt, "network_D", "which_model_D", registered, plugins, search_dirs)
    net = cls(**kwargs)
    if sync_bn and torch.distributed.is_available() and torch.distributed.is_initialized():
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    return net


def generator_outputs(out):
    """(y, y_p, y_1) from the EDL generator's forward; a plain generator's y stands for all three."""
    if isinstance(out, (tuple, list)):
        if len(out) != len(GENERATOR_OUTPUTS):
            raise RwsrError(f"the generator's forward returned {len(out)} values; return y or (y, y_p, y_1)")
        return out[0], out[1], out[2]
    return out, out, out


def is_dual_output(out):
    """True when a generator's forward result carries the two branches (y, y_p, y_1)."""
    return isinstance(out, (tuple, list))
