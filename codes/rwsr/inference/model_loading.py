"""Generators for inference: one file (or a blend of two) in, a ready network out.

The order matters: the file's metadata is read first and, when it names the architecture (files
this project writes), decides what is built; only weights without it are recognised by their
tensors, as our RRDB / EDL generator (official ESRGAN, RWSR-EDL and BasicSR weights) or, for any
other architecture, through spandrel (rwsr.inference.community). Every file is read weights-only.
"""
import os
from dataclasses import dataclass

import torch
from torch import nn

from ..archs import build_generator, generator_outputs
from ..archs.interpolation import check_alpha, read_interpolated
from ..archs.network_files import (infer_generator_options, is_rrdb_checkpoint, load_network, network_file_name,
                                   parse_network_file_name, read_checkpoint)
from ..options.schema import NETWORK_G
from ..utils.errors import RwsrError
from ..utils.logger import get_logger
from .community import load_community_model
from .luma import LumaGenerator


@dataclass
class LoadedGenerator:
    """net takes N x 3 x H x W RGB in [0, 1] (one-channel models are wrapped) and returns y, or
    (y, y_p, y_1) for the EDL generator; options is the network_G section for our generators
    (and plugins), None for community models."""

    net: nn.Module
    scale: int
    description: str
    weights: str
    options: dict = None
    supports_half: bool = True
    supports_bfloat16: bool = True


def ema_sibling(path):
    """`<iter>_G_ema.<ext>` saved beside `<iter>_G.<ext>` by training with EMA, or None."""
    parsed = parse_network_file_name(os.path.basename(path))
    if not parsed or parsed[1] != "G":
        return None
    sibling = os.path.join(os.path.dirname(path), network_file_name(parsed[0], "G_ema", parsed[2]))
    return sibling if os.path.isfile(sibling) else None


def check_model_file(path, option="--model"):
    if not path:
        raise RwsrError(f"{option}: no model given; pass the generator weights (.pth, .safetensors or .onnx)",
                        exit_code=2)
    if not os.path.isfile(path):
        raise RwsrError(f"{path}: model file not found; check {option}", exit_code=2)


def generator_options(state, metadata, overrides=None):
    """network_G options: the metadata (or, without it, the weights), then explicit overrides."""
    options = infer_generator_options(state, metadata)
    for key, value in (overrides or {}).items():
        if key not in NETWORK_G:
            raise RwsrError(f"network_G.{key}: unknown option; valid keys: {', '.join(NETWORK_G)}", exit_code=2)
        if value is not None:
            options[key] = value
    return options


def parse_interp(text, option="--interp"):
    """'B.pth:0.3' -> ('B.pth', 0.3); the last colon separates the weight."""
    path, sep, alpha = str(text).rpartition(":")
    try:
        value = float(alpha)
    except ValueError:
        value = None
    if not sep or not path or value is None:
        raise RwsrError(f"{option} {text}: expected FILE:ALPHA, e.g. {option} G_esrgan.pth:0.5", exit_code=2)
    return path, check_alpha(value, option)


def _weights_file(path, prefer_ema, logger, option):
    check_model_file(path, option)
    weights = (ema_sibling(path) if prefer_ema else None) or path
    if weights != path:
        logger.info("using EMA weights %s (pass --no_ema for %s)", weights, path)
    return weights


def _read(weights, interp, prefer_ema, logger):
    """(state, metadata, name) of the file, or of its blend with interp = (other file, alpha)."""
    if not interp:
        state, metadata = read_checkpoint(weights)
        return state, metadata, weights
    other, alpha = interp
    other = _weights_file(other, prefer_ema, logger, "--interp")
    state, metadata = read_interpolated(weights, other, alpha)
    logger.info("interpolated: %.3g x %s + %.3g x %s", 1 - alpha, weights, alpha, other)
    return state, metadata, f"{weights} + {other} at alpha {alpha:g}"


def _is_ours(state, metadata):
    return metadata.get("which_model_G") is not None or is_rrdb_checkpoint(state)


def _build_ours(state, metadata, overrides, source, strict, plugins, logger, search_dirs=()):
    options = generator_options(state, metadata, overrides)
    net = build_generator(options, plugins=plugins, search_dirs=search_dirs)
    load_network(net, state, strict=strict, logger=logger, source=source)
    scale = options.get("upscale") or metadata.get("scale") or _measured_scale(net, options.get("in_nc", 3))
    return LoadedGenerator(net=net.eval(), scale=int(scale), description=describe_generator(options, scale),
                           weights=source, options=options)


def _measured_scale(net, in_nc):
    """Output/input size of one small forward (a plugin file that recorded no scale)."""
    with torch.inference_mode():
        y = generator_outputs(net.eval()(torch.zeros(1, in_nc, 16, 16)))[0]
    return y.shape[-1] // 16


def _build_community(state, overrides, source):
    model = load_community_model(state, source)
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    if given.get("upscale") not in (None, model.scale):
        raise RwsrError(f"{source}: the {model.architecture} model upscales x{model.scale}, not x{given['upscale']}; "
                        "fix --scale/scale", exit_code=2)
    others = sorted(set(given) - {"upscale"})
    if others:
        raise RwsrError(f"{source}: network_G options ({', '.join(others)}) apply to this project's generators, not "
                        f"to a {model.architecture} model; remove them", exit_code=2)
    tags = f", {', '.join(model.tags)}" if model.tags else ""
    return LoadedGenerator(net=model.net, scale=model.scale, weights=source,
                           description=f"{model.architecture} x{model.scale} (spandrel{tags})",
                           supports_half=model.supports_half, supports_bfloat16=model.supports_bfloat16), model


def _channels(options, community):
    if community is not None:
        return community.in_nc, community.out_nc
    return options.get("in_nc", 3), options.get("out_nc", 3)


def load_generator(path, overrides=None, *, interp=None, plugins=(), prefer_ema=True, strict=True, logger=None,
                   option="--model", search_dirs=()):
    """Build and load the generator in `path` -> LoadedGenerator (net in eval mode).

    overrides: network_G options that win over what the file says. interp: (other file, alpha)
    to run (1 - alpha) path + alpha other (network interpolation). plugins: modules a weight
    file's import-path architecture may be imported from; search_dirs: folders tried for them before
    PYTHONPATH (an option file's own folder). prefer_ema: use `params_ema` inside
    the file or a `<iter>_G_ema` file beside `<iter>_G`. Weights that do not fit the
    architecture are a one-line error naming the keys.
    """
    logger = logger or get_logger()
    weights = _weights_file(path, prefer_ema, logger, option)
    state, metadata, source = _read(weights, interp, prefer_ema, logger)
    community = None
    if _is_ours(state, metadata):
        loaded = _build_ours(state, metadata, overrides, source, strict, plugins, logger, search_dirs)
    else:
        loaded, community = _build_community(state, overrides, source)
    in_nc, out_nc = _channels(loaded.options, community)
    if (in_nc, out_nc) == (1, 1):
        loaded.net = LumaGenerator(loaded.net, loaded.scale).eval()
        loaded.description += ", luma (Y) model run on YCbCr"
    elif (in_nc, out_nc) != (3, 3):
        raise RwsrError(f"{source}: a model with {in_nc} input and {out_nc} output channels is not supported "
                        "(RGB 3 -> 3 or luma 1 -> 1)", exit_code=2)
    return loaded


def describe_generator(options, scale=None):
    name = options["which_model_G"]
    if name not in ("RRDBNet", "RRDB"):
        return f"{name} x{scale or options.get('upscale')}"
    kind = "EDL dual-branch RRDBNet" if name == "RRDBNet" else "ESRGAN RRDBNet"
    return (f"{kind} x{options['upscale']} (nf {options['nf']}, nb {options['nb']}, gc {options['gc']}"
            f"{', global residual' if options.get('global_residual') else ''})")
