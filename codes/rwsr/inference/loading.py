"""A ready SRInference from a model file: .pth/.safetensors (PyTorch, or exported to ONNX on the fly) or .onnx."""
import os
import tempfile

from ..options.schema import TEST
from ..utils.errors import RwsrError
from ..utils.image_io import image_stem
from ..utils.logger import get_logger
from .backends import OnnxForward, resolve_device
from .model_loading import check_model_file, describe_generator, load_generator
from .onnx_export import export_onnx
from .sr_inference import SRInference


def default_settings():
    """The `test` option section at its defaults: tile, ensemble, back-projection, half, compile, ..."""
    return {key: spec.default for key, spec in TEST.items()}


def _onnxruntime_available():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend, model_path, device, settings):
    """torch or onnx. auto: onnx for .onnx files; on the CPU also for PyTorch weights (exported on
    the fly), since onnxruntime runs this network about 2x faster there (bench/bench_infer.py)."""
    is_onnx = model_path.lower().endswith(".onnx")
    if backend == "torch" and is_onnx:
        raise RwsrError(f"{model_path}: an ONNX model needs --backend onnx (or auto)", exit_code=2)
    if backend != "auto":
        return backend
    if is_onnx or (device.type == "cpu" and not settings["compile"] and not settings["half"]
                   and _onnxruntime_available()):
        return "onnx"
    return "torch"


def _onnx_scale(forward, model_path, requested):
    """Scale stored at export, else measured on an 8x8 input; a conflicting --scale is an error."""
    import torch

    stored = forward.metadata.get("upscale")
    if stored is None:
        probe = forward(torch.zeros(1, 3, 8, 8))
        stored = probe.shape[-1] // 8
    scale = int(stored)
    if requested and requested != scale:
        raise RwsrError(f"{model_path}: the ONNX model upscales x{scale}, not x{requested}; fix --scale/scale",
                        exit_code=2)
    return scale


def _onnx_from_weights(net, options, weights, device, required, logger):
    """(OnnxForward of the generator exported to a temporary folder, the folder), or (None, None)
    when the export fails and PyTorch may stand in."""
    folder = tempfile.TemporaryDirectory(prefix="rwsr_onnx_")
    onnx_path = os.path.join(folder.name, image_stem(weights) + ".onnx")
    try:
        export_onnx(net, onnx_path, metadata={"upscale": options["upscale"]})
    except RwsrError as err:
        folder.cleanup()
        if required:
            raise
        logger.warning("%s; running PyTorch instead", err)
        return None, None
    logger.info("running with onnxruntime (exported on the fly; --backend torch for PyTorch)")
    return OnnxForward(onnx_path, device), folder


def load_inference(model_path, settings=None, backend="auto", device="auto", overrides=None, prefer_ema=True,
                   strict=True, logger=None, option="--model"):
    """SRInference for the model file, configured by `settings` (the `test` section; defaults when None).

    overrides: network_G options that win over what the checkpoint says. A model exported to ONNX
    on the fly lives in a temporary folder removed by the SRInference's close().
    """
    settings = dict(default_settings(), **(settings or {}))
    for key in ("tile", "tile_pad", "tile_batch", "back_projection_iters"):
        if settings[key] < 0:
            raise RwsrError(f"{key}: {settings[key]} must not be negative", exit_code=2)
    logger = logger or get_logger()
    overrides = overrides or {}
    device = resolve_device(device) if isinstance(device, str) else device
    check_model_file(model_path, option)
    chosen = resolve_backend(backend, model_path, device, settings)
    common = dict(tile=settings["tile"], tile_pad=settings["tile_pad"], tile_batch=settings["tile_batch"],
                  ensemble=settings["ensemble"],
                  back_projection=settings["back_projection_iters"] if settings["back_projection"] else 0,
                  back_projection_weight=settings["back_projection_lamda"])
    if model_path.lower().endswith(".onnx"):
        forward = OnnxForward(model_path, device)
        scale = _onnx_scale(forward, model_path, overrides.get("upscale"))
        logger.info("model: %s (ONNX, x%d, onnxruntime %s)", model_path, scale, forward.session.get_providers()[0])
        return SRInference(forward, scale, **common)
    net, options, weights = load_generator(model_path, overrides, prefer_ema, strict, logger, option)
    logger.info("model: %s, %s", weights, describe_generator(options))
    if chosen == "onnx":
        forward, folder = _onnx_from_weights(net, options, weights, device, backend == "onnx", logger)
        if forward is not None:
            return SRInference(forward, options["upscale"], resources=[folder], **common)
    if settings["compile"] and not settings["tile"]:
        logger.warning("compile without --tile recompiles for every new image size")
    return SRInference(net, options["upscale"], half=settings["half"], device=device, channels_last=True,
                       compile=settings["compile"], **common)
