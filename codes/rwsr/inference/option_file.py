"""test.py's option-file form: every dataset of an official-style test option file, one model."""
import os

from ..data import build_dataset
from ..options import load_options, read_yaml
from ..options.loader import apply_overrides
from ..options.paths import check_input_paths
from ..runtime import apply_gpu_ids
from ..utils.errors import RwsrError
from ..utils.logger import setup_logger
from .backends import resolve_device
from .folders import OutputSettings, refuse_same_folder, super_resolve_samples, write_report
from .inputs import dataset_samples
from .loading import load_inference
from .scoring import lpips_for


def load_test_options(path, overrides=()):
    """Options of a test file; the model and at least one dataset are required."""
    opt = load_options(path, overrides, phase="test")
    check_input_paths(opt)
    if not opt["path"]["pretrain_model_G"]:
        raise RwsrError("path.pretrain_model_G: required for testing; set it in the option file or with "
                        "--set path.pretrain_model_G=G.pth", exit_code=2)
    if not opt["datasets"]:
        raise RwsrError(f"{path}: no datasets to test; add a datasets.test_1 section", exit_code=2)
    return opt


def network_overrides(path, overrides, opt):
    """network_G keys written in the option file (or --set): they override the checkpoint."""
    raw = apply_overrides(read_yaml(path), overrides)
    chosen = {key: opt["network_G"][key] for key in (raw.get("network_G") or {})}
    if "scale" in raw:
        chosen["upscale"] = opt["scale"]
    return chosen


def _dataset_folders(opt, overwrite):
    """(key, display name, result folder) per dataset; existing results need overwrite."""
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
        if os.path.isdir(folder) and os.listdir(folder) and not overwrite:
            raise RwsrError(f"{folder}: results exist; pass --overwrite or change name/path.results_root",
                            exit_code=2)
        folders.append((key, name, folder))
    return root, folders


def super_resolve_option_file(path, overrides=(), settings=None, backend="auto", device=None, prefer_ema=True,
                     overwrite=False, lpips=True, crop_border=None, ext=None, suffix="", progress=True,
                     interp=None, plugins=(), alpha="bicubic", outscale=None, niqe=True):
    """Super-resolve every dataset of the option file into results/<name>/<dataset>/.

    settings: the `test` section with command-line values on top (None: the file's). Returns
    {dataset name: FolderResult}; an image that fails is reported and counted, not fatal.
    interp, plugins: as load_inference's (plugins adds to the file's `plugins:`). suffix: appended to
    result names (default: the file's `suffix` key). alpha, outscale, niqe: as super_resolve_folder's.
    """
    opt = load_test_options(path, overrides)
    root, folders = _dataset_folders(opt, overwrite)
    settings = dict(opt["test"], **(settings or {}))
    # datasets before anything is written or loaded: their errors come first
    datasets = [(key, name, folder, dataset_samples(build_dataset(opt["datasets"][key], opt, "test"), key))
                for key, name, folder in folders]
    os.makedirs(root, exist_ok=True)
    logger = setup_logger(os.path.join(root, "test.log"))
    apply_gpu_ids(opt["gpu_ids"], "none")
    device = resolve_device(device or opt["device"])
    results = {}
    inference = load_inference(opt["path"]["pretrain_model_G"], settings, backend, device,
                               network_overrides(path, overrides, opt), prefer_ema, opt["path"]["strict_load"],
                               logger, option="path.pretrain_model_G", interp=interp,
                               plugins=tuple(opt.get("plugins") or ()) + tuple(plugins),
                               search_dirs=(os.path.dirname(os.path.abspath(path)),))
    with inference:
        for key, name, folder, samples in datasets:
            with_gt = opt["datasets"][key]["mode"] == "LQGT"
            output = OutputSettings(output_dir=folder, ext=ext or settings["save_ext"],
                                    suffix=suffix or opt["suffix"] or "", overwrite=overwrite, progress=progress,
                                    alpha=alpha, outscale=outscale, niqe=niqe,
                                    crop_border=crop_border if crop_border is not None else opt["crop_border"])
            output.lpips_metric, lpips_note = lpips_for(with_gt, lpips, device, opt["path"]["pretrained_backbones"],
                                                        logger)
            logger.info("testing %s (%d images) -> %s", name, len(samples), folder)
            results[name] = super_resolve_samples(samples, inference, output, description=name)
            info = {"model": opt["path"]["pretrain_model_G"], "runtime": inference.runtime, "dataset": name,
                    "scale": inference.scale, "outscale": outscale,
                    "crop_border": output.crop_border, "lpips": lpips_note}
            write_report(results[name], output, info, logger)
    return results
