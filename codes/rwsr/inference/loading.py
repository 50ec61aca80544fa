"""A ready SRInference from a model file: .pth/.safetensors (PyTorch, or exported to ONNX on the fly) or .onnx."""
import os
import tempfile

from ..options.schema import TEST
from ..utils.errors import RwsrError
from ..utils.image_io import image_stem
from ..utils.logger import get_logger
from .backend_choice import backend_candidates, describe_runtime, first_working
from .backends import resolve_device
from .community import FixedSizeForward, fixed_size_tiles
from .model_loading import check_model_file, load_generator
from .onnx_export import check_onnx_generalises, export_onnx
from .sr_inference import SRInference
from .staged import has_stages, staged_forward


def default_settings():
    """The `test` option section at its defaults: tile, ensemble, back-projection, half, compile, ..."""
    return {key: spec.default for key, spec in TEST.items()}


def _log_choice(logger, backend, name, forward, exported):
    """Log the runtime that runs the model; returns its description (metrics.json's `runtime`)."""
    how = "exported to ONNX on the fly; " if exported else ""
    why = "auto: the fastest available here" if backend == "auto" else "asked"
    runtime = describe_runtime(name, forward)
    logger.info("backend: %s (%s%s; --backend torch/onnx/openvino to choose)", runtime, how, why)
    return runtime


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


def _onnx_from_weights(generator, model_path, device, candidates, settings, logger):
    """(name, forward of the generator exported to a temporary folder by the first runtime of
    candidates that runs it, the folder), or (None, None, None) when the export or every runtime
    fails and PyTorch (the last candidate of auto) stands in."""
    required = "torch" not in candidates
    folder = tempfile.TemporaryDirectory(prefix="rwsr_onnx_")
    onnx_path = os.path.join(folder.name, image_stem(model_path) + ".onnx")
    if _two_precisions_apply(generator, candidates, settings):
        try:
            forward = staged_forward(generator.net, folder.name, {"upscale": generator.scale}, logger=logger)
        except RwsrError as err:
            logger.warning("%s; running fp32 as one graph", err)
            forward = None
        if forward is not None:
            return "openvino", forward, folder
    try:
        export_onnx(generator.net, onnx_path, metadata={"upscale": generator.scale}, in_channels=3)
        if generator.options is None:  # community model: window attention may trace one size only
            check_onnx_generalises(onnx_path, generator.net)
        name, forward = first_working([name for name in candidates if name != "torch"], onnx_path, device,
                                      settings, logger)
    except RwsrError as err:
        folder.cleanup()
        if required:
            raise
        logger.warning("%s; running PyTorch instead", err)
        return None, None, None
    return name, forward, folder


def _two_precisions_apply(generator, candidates, settings):
    """The default on the CPU (rwsr.inference.staged): OpenVINO first, neither --half nor --fp32,
    and a generator with stages (the EDL one; wrapped ones, e.g. one-channel models, run as one graph)."""
    return (candidates[0] == "openvino" and not settings.get("half") and not settings.get("fp32")
            and has_stages(generator.net))


def _half_supported(generator, device, logger):
    """fp16 (CUDA) / bf16 (CPU) autocast unless the model says it breaks in that precision (spandrel's flags)."""
    supported = generator.supports_half if device.type == "cuda" else generator.supports_bfloat16
    if not supported:
        precision = "fp16" if device.type == "cuda" else "bf16"
        logger.warning("--half: %s is not supported in %s; running in fp32", generator.description, precision)
    return supported


def load_inference(model_path, settings=None, backend="auto", device="auto", overrides=None, prefer_ema=True,
                   strict=True, logger=None, option="--model", *, interp=None, plugins=(), search_dirs=()):
    """SRInference for the model file, configured by `settings` (the `test` section; defaults when None).

    overrides: network_G options that win over what the checkpoint says. interp: (other weights
    file, alpha) runs the blend (1 - alpha) model + alpha other, see rwsr.archs.interpolation.
    plugins: modules a plugin generator's file may have imported (--plugin), searched in search_dirs
    before PYTHONPATH. A model exported to
    ONNX on the fly lives in a temporary folder removed by the SRInference's close().
    """
    settings = dict(default_settings(), **(settings or {}))
    if settings["half"] and settings["fp32"]:
        raise RwsrError("half and fp32 both asked for: choose one (--half or --fp32)", exit_code=2)
    for key in ("tile", "tile_pad", "tile_batch", "back_projection_iters"):
        if settings[key] < 0:
            raise RwsrError(f"{key}: {settings[key]} must not be negative", exit_code=2)
    logger = logger or get_logger()
    overrides = overrides or {}
    if backend == "openvino" and device == "auto":
        device = "cpu"  # OpenVINO runs on the CPU here, also on machines with CUDA
    device = resolve_device(device) if isinstance(device, str) else device
    check_model_file(model_path, option)
    candidates = backend_candidates(backend, model_path, device, settings)
    common = dict(tile=settings["tile"], tile_pad=settings["tile_pad"], tile_batch=settings["tile_batch"],
                  ensemble=settings["ensemble"],
                  back_projection=settings["back_projection_iters"] if settings["back_projection"] else 0,
                  back_projection_weight=settings["back_projection_lamda"])
    if model_path.lower().endswith(".onnx"):
        if interp:
            raise RwsrError(f"{model_path}: --interp blends PyTorch weights (.pth, .safetensors), not ONNX models",
                            exit_code=2)
        name, forward = first_working(candidates, model_path, device, settings, logger)
        scale = _onnx_scale(forward, model_path, overrides.get("upscale"))
        input_size = int(getattr(forward, "metadata", {}).get("input_size") or 0)
        if input_size:  # exported for one input size (window attention): tiles of exactly that size
            forward = FixedSizeForward(forward, input_size, scale)
            common = fixed_size_tiles(common, input_size, logger)
        logger.info("model: %s (ONNX, x%d)", model_path, scale)
        return SRInference(forward, scale, runtime=_log_choice(logger, backend, name, forward, exported=False),
                           **common)
    generator = load_generator(model_path, overrides, interp=interp, plugins=plugins, prefer_ema=prefer_ema,
                               strict=strict, logger=logger, option=option, search_dirs=search_dirs)
    logger.info("model: %s, %s", generator.weights, generator.description)
    half = settings["half"] and _half_supported(generator, device, logger)
    if candidates != ["torch"]:
        name, forward, folder = _onnx_from_weights(generator, model_path, device, candidates,
                                                   dict(settings, half=half), logger)
        if forward is not None:
            return SRInference(forward, generator.scale, resources=[folder],
                               runtime=_log_choice(logger, backend, name, forward, exported=True), **common)
    if settings["compile"] and not settings["tile"]:
        logger.warning("compile without --tile recompiles for every new image size")
    autocast = (" fp16 autocast" if device.type == "cuda" else " bf16 autocast") if half else ""
    logger.info("backend: PyTorch%s (%s)", autocast, "asked" if backend == "torch" else "auto")
    return SRInference(generator.net, generator.scale, half=half, device=device, channels_last=True,
                       compile=settings["compile"], runtime=f"PyTorch{autocast} on {device.type}", **common)
