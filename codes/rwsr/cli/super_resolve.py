"""The work behind `test.py` once its arguments are checked (imports torch)."""
import contextlib
import os
import tempfile

from ..data import build_dataset
from ..inference import OnnxForward, SRInference, resolve_device
from ..inference.batch import BatchSettings, output_path, run_batch
from ..inference.inputs import dataset_samples, file_samples, list_inputs
from ..inference.model_loading import check_model_file, describe_generator, load_generator
from ..inference.onnx_export import export_onnx
from ..inference.report import METRICS_CSV, METRICS_JSON, format_table, write_metrics
from ..metrics import create_lpips_metric
from ..options import load_options, read_yaml, validate
from ..options.loader import apply_overrides, parse_override
from ..options.paths import check_input_paths
from ..options.schema import TEST
from ..utils.errors import RwsrError
from ..utils.image_io import image_stem
from ..utils.logger import setup_logger

_FLAG_TO_OPTION = {"tile": "tile", "tile_pad": "tile_pad", "tile_batch": "tile_batch", "ensemble": "ensemble",
                   "half": "half", "compile": "compile", "ext": "save_ext"}


# ---------------------------------------------------------------- settings
def inference_settings(args, test_opt=None):
    """The `test` option section (file or defaults) with command-line flags on top."""
    settings = dict(test_opt) if test_opt else {key: spec.default for key, spec in TEST.items()}
    for flag, key in _FLAG_TO_OPTION.items():
        if getattr(args, flag) is not None:
            settings[key] = getattr(args, flag)
    if args.back_projection is not None:
        settings["back_projection"] = args.back_projection > 0
        settings["back_projection_iters"] = max(1, args.back_projection)
    for key in ("tile", "tile_pad", "tile_batch", "back_projection_iters"):
        if settings[key] < 0:
            raise RwsrError(f"{key}: {settings[key]} must not be negative", exit_code=2)
    return settings


def arch_overrides(arch_args, scale):
    """--arch KEY=VALUE and --scale as validated network_G options (only the keys given)."""
    raw = {}
    for text in arch_args:
        parts, value = parse_override(text)
        raw[".".join(parts)] = value
    top = {"name": "cli", "network_G": raw}
    if raw.get("upscale") in (2, 4):
        top["scale"] = raw["upscale"]
    validated = validate(top, phase="test")["network_G"]
    overrides = {key: validated[key] for key in raw}
    if scale:
        overrides["upscale"] = scale
    return overrides


def option_file_overrides(opt_path, set_args, opt):
    """network_G keys written in the option file (or --set): they override the checkpoint."""
    raw = apply_overrides(read_yaml(opt_path), set_args)
    overrides = {key: opt["network_G"][key] for key in (raw.get("network_G") or {})}
    if "scale" in raw:
        overrides["upscale"] = opt["scale"]
    return overrides


# ---------------------------------------------------------------- model
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
    if is_onnx or (device.type == "cpu" and not settings["compile"] and _onnxruntime_available()):
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


def _onnx_from_weights(net, options, weights, device, stack, required, logger):
    """Export the loaded generator to a temporary .onnx and open it; None when auto mode may fall back."""
    folder = stack.enter_context(tempfile.TemporaryDirectory())
    onnx_path = os.path.join(folder, image_stem(weights) + ".onnx")
    try:
        export_onnx(net, onnx_path, metadata={"upscale": options["upscale"]})
    except RwsrError as err:
        if required:
            raise
        logger.warning("%s; running PyTorch instead", err)
        return None
    logger.info("running with onnxruntime (exported on the fly; --backend torch for PyTorch)")
    return OnnxForward(onnx_path, device)


def build_inference(model_path, backend, device, overrides, settings, stack, prefer_ema=True, strict=True,
                    logger=None, option="--model"):
    """SRInference for a .pth/.safetensors (PyTorch or exported to ONNX on the fly) or an .onnx model."""
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
        forward = _onnx_from_weights(net, options, weights, device, stack, backend == "onnx", logger)
        if forward is not None:
            return SRInference(forward, options["upscale"], **common)
    if settings["half"] and device.type != "cuda":
        logger.warning("--half has no effect on %s; running fp32", device.type)
    if settings["compile"] and not settings["tile"]:
        logger.warning("compile without --tile recompiles for every new image size")
    return SRInference(net, options["upscale"], half=settings["half"], device=device, channels_last=True,
                       compile=settings["compile"], **common)


# ---------------------------------------------------------------- outputs
def refuse_same_folder(output, inputs):
    if os.path.exists(output) and not os.path.isdir(output):
        raise RwsrError(f"{output}: exists and is not a folder; choose another output folder", exit_code=2)
    for label, path in inputs:
        if path and os.path.realpath(output) == os.path.realpath(path):
            raise RwsrError(f"{output}: output folder is the {label} folder; choose another --output", exit_code=2)


def check_conflicts(names, settings, with_metrics):
    """Existing results are kept unless --overwrite: list them before any work starts."""
    if settings.overwrite:
        return
    paths = [output_path(settings, name) for name in names]
    if with_metrics:
        paths += [os.path.join(settings.output_dir, METRICS_CSV), os.path.join(settings.output_dir, METRICS_JSON)]
    existing = [path for path in paths if os.path.exists(path)]
    if existing:
        raise RwsrError(f"{existing[0]}: exists ({len(existing)} result file(s) would be replaced); "
                        "pass --overwrite or choose another --output", exit_code=2)


def lpips_for(with_gt, args, device, weights_dir, logger):
    """(LPIPS metric or None, note for metrics.json); a skipped LPIPS is announced."""
    if not with_gt:
        return None, None
    if args.no_lpips:
        return None, "LPIPS skipped: --no_lpips"
    metric, reason = create_lpips_metric(device, weights_dir=weights_dir)
    if metric is None:
        logger.warning("%s", reason)
        return None, reason
    return metric, "LPIPS (AlexNet, v0.1)"


def report(result, settings, info, logger):
    """Write metrics files and print the table; returns the number of failures."""
    if result.records:
        csv_path, json_path = write_metrics(settings.output_dir, result.records, info)
        print(format_table(result.records), flush=True)
        logger.info("metrics: %s, %s", csv_path, json_path)
    logger.info("%d image(s) written to %s", len(result.written), settings.output_dir)
    for label, reason in result.failures:
        logger.warning("failed: %s (%s)", label, reason)
    return len(result.failures)


def _raise_failures(failed, total):
    if failed:
        raise RwsrError(f"{failed} of {total} image(s) could not be processed (listed above)", exit_code=1)


def _batch_settings(args, output_dir, settings, scale, crop_border, lpips_metric):
    return BatchSettings(output_dir=output_dir, ext=settings["save_ext"], suffix=args.suffix or "",
                         overwrite=args.overwrite, crop_border=crop_border if crop_border is not None else scale,
                         lpips_metric=lpips_metric, progress=not args.no_progress)


# ---------------------------------------------------------------- the two forms
def run_folder(args):
    logger = setup_logger()
    lr_paths = list_inputs(args.input)
    input_dir = args.input if os.path.isdir(args.input) else os.path.dirname(os.path.abspath(args.input))
    refuse_same_folder(args.output, [("input", input_dir), ("GT", args.gt)])
    settings = inference_settings(args)
    probe = _batch_settings(args, args.output, settings, args.scale or 4, args.crop_border, None)
    check_conflicts([image_stem(path) for path in lr_paths], probe, with_metrics=bool(args.gt))
    device = resolve_device(args.device or "auto")
    overrides = arch_overrides(args.arch, args.scale)
    with contextlib.ExitStack() as stack:
        inference = build_inference(args.model, args.backend, device, overrides, settings, stack,
                                    prefer_ema=not args.no_ema, logger=logger)
        samples = file_samples(args.input, args.gt, inference.scale)
        lpips_metric, lpips_note = lpips_for(bool(args.gt), args, device, None, logger)
        batch = _batch_settings(args, args.output, settings, inference.scale, args.crop_border, lpips_metric)
        result = run_batch(samples, inference, batch, description=os.path.basename(os.path.normpath(args.input)))
        info = {"model": args.model, "input": args.input, "gt": args.gt, "scale": inference.scale,
                "crop_border": batch.crop_border, "lpips": lpips_note}
        failed = report(result, batch, info, logger)
    _raise_failures(failed, len(samples))
    return 0


def _dataset_folders(opt, args):
    """(key, display name, result folder) per dataset; existing results need --overwrite."""
    root = os.path.join(opt["path"]["results_root"], opt["name"])
    folders = []
    for key, dataset_opt in opt["datasets"].items():
        name = dataset_opt["name"] or key
        folder = os.path.join(root, name)
        inputs = [(f"datasets.{key}.{k}", dataset_opt[k]) for k in ("dataroot_LR", "dataroot_LQ", "dataroot_GT")]
        refuse_same_folder(folder, inputs)
        if dataset_opt["color"] != "RGB":
            raise RwsrError(f"datasets.{key}.color: test.py works on RGB images; remove color: "
                            f"{dataset_opt['color']} (PSNR/SSIM on Y are reported anyway)", exit_code=2)
        if os.path.isdir(folder) and os.listdir(folder) and not args.overwrite:
            raise RwsrError(f"{folder}: results exist; pass --overwrite or change name/path.results_root",
                            exit_code=2)
        folders.append((key, name, folder))
    return root, folders


def _load_test_options(args):
    opt = load_options(args.opt, args.set, phase="test")
    check_input_paths(opt)
    if not opt["path"]["pretrain_model_G"]:
        raise RwsrError("path.pretrain_model_G: required for testing; set it in the option file or with "
                        "--set path.pretrain_model_G=G.pth", exit_code=2)
    if not opt["datasets"]:
        raise RwsrError(f"{args.opt}: no datasets to test; add a datasets.test_1 section", exit_code=2)
    return opt


def _test_dataset(args, opt, inference, settings, device, dataset, logger):
    """Run one dataset of the option file; returns (failures, images)."""
    key, name, folder, samples = dataset
    with_gt = opt["datasets"][key]["mode"] == "LQGT"
    lpips_metric, lpips_note = lpips_for(with_gt, args, device, opt["path"]["pretrained_backbones"], logger)
    crop_border = args.crop_border if args.crop_border is not None else opt["crop_border"]
    batch = _batch_settings(args, folder, settings, inference.scale, crop_border, lpips_metric)
    logger.info("testing %s (%d images) -> %s", name, len(samples), folder)
    result = run_batch(samples, inference, batch, description=name)
    info = {"model": opt["path"]["pretrain_model_G"], "dataset": name, "scale": inference.scale,
            "crop_border": batch.crop_border, "lpips": lpips_note}
    return report(result, batch, info, logger), len(samples)


def run_option_file(args):
    opt = _load_test_options(args)
    root, folders = _dataset_folders(opt, args)
    settings = inference_settings(args, opt["test"])
    # datasets before anything is written or loaded: their errors come first
    datasets = [(key, name, folder, dataset_samples(build_dataset(opt["datasets"][key], opt, "test"), key))
                for key, name, folder in folders]
    os.makedirs(root, exist_ok=True)
    logger = setup_logger(os.path.join(root, "test.log"))
    from ..engine.distributed import apply_gpu_ids

    apply_gpu_ids(opt["gpu_ids"], "none")
    device = resolve_device(args.device or opt["device"])
    failed = total = 0
    with contextlib.ExitStack() as stack:
        inference = build_inference(opt["path"]["pretrain_model_G"], args.backend, device,
                                    option_file_overrides(args.opt, args.set, opt), settings, stack,
                                    prefer_ema=not args.no_ema, strict=opt["path"]["strict_load"], logger=logger,
                                    option="path.pretrain_model_G")
        for dataset in datasets:
            dataset_failed, images = _test_dataset(args, opt, inference, settings, device, dataset, logger)
            failed, total = failed + dataset_failed, total + images
    _raise_failures(failed, total)
    return 0
