"""Generators for inference: architecture from the checkpoint, options on top, EMA preferred."""
import os

from ..archs import build_generator
from ..archs.network_files import (infer_generator_options, load_network, network_file_name, parse_network_file_name,
                                   read_checkpoint)
from ..options.schema import NETWORK_G
from ..utils.errors import RwsrError
from ..utils.logger import get_logger



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
    """network_G options: inferred from the weights (and metadata), then explicit overrides."""
    options = infer_generator_options(state, metadata)
    for key, value in (overrides or {}).items():
        if key not in NETWORK_G:
            raise RwsrError(f"network_G.{key}: unknown option; valid keys: {', '.join(NETWORK_G)}", exit_code=2)
        if value is not None:
            options[key] = value
    return options


def load_generator(path, overrides=None, prefer_ema=True, strict=True, logger=None, option="--model"):
    """Build and load the generator in `path` -> (net in eval mode, network_G options, weights file used).

    prefer_ema: use `params_ema` inside the file (always preferred by read_checkpoint) or a
    `<iter>_G_ema` file beside `<iter>_G`. Weights that do not fit the architecture are a
    one-line error naming the keys.
    """
    logger = logger or get_logger()
    check_model_file(path, option)
    weights = (ema_sibling(path) if prefer_ema else None) or path
    if weights != path:
        logger.info("using EMA weights %s (pass --no_ema for %s)", weights, path)
    state, metadata = read_checkpoint(weights)
    options = generator_options(state, metadata, overrides)
    net = build_generator(options)
    load_network(net, weights, strict=strict, logger=logger)  # re-read so errors name the file
    return net.eval(), options, weights


def describe_generator(options):
    kind = "EDL dual-branch RRDBNet" if options["which_model_G"] == "RRDBNet" else "ESRGAN RRDBNet"
    return (f"{kind} x{options['upscale']} (nf {options['nf']}, nb {options['nb']}, gc {options['gc']}"
            f"{', global residual' if options.get('global_residual') else ''})")
