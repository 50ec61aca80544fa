"""Options of on-the-fly degradations (`mode: GT`): Real-ESRGAN's top-level keys and value ranges.

Real-ESRGAN's option files put the degradation keys (`resize_prob`, `noise_range`, ...,
`queue_size`) at the top level; they are moved into the `degradation` section here, so
its files work with only their paths edited.
"""
from ..utils.errors import OptionError
from .schema import DEGRADATION

SECTION = "degradation"


def hoist_top_level_keys(raw):
    """raw with Real-ESRGAN's top-level degradation keys moved into raw['degradation'] (a new dict)."""
    found = [key for key in raw if key in DEGRADATION]
    if not found:
        return raw
    section = raw.get(SECTION) or {}
    if not isinstance(section, dict):
        raise OptionError(f"{SECTION}: expected a section (mapping), got {type(section).__name__}")
    moved = {key: value for key, value in raw.items() if key not in DEGRADATION}
    merged = dict(section)
    for key in found:
        if key in section:
            raise OptionError(f"{key}: given at the top level and as {SECTION}.{key}; keep one")
        merged[key] = raw[key]
    moved[SECTION] = merged
    return moved


def _range(values, path, low=None, high=None, around_one=False):
    if len(values) != 2 or values[0] > values[1]:
        raise OptionError(f"{path}: expected [min, max] with min <= max, got {values}")
    if low is not None and values[0] < low or high is not None and values[1] > high:
        raise OptionError(f"{path}: {values} leaves the range [{low}, {high}]")
    if around_one and not values[0] <= 1 <= values[1]:
        raise OptionError(f"{path}: {values} must enclose 1 (half the draws lie below 1, half above)")


def _probability(value, path):
    if not 0 <= value <= 1:
        raise OptionError(f"{path}: {value} is not a probability in [0, 1]")


def _weights(values, count, path, what):
    if len(values) != count:
        raise OptionError(f"{path}: {len(values)} probabilities for {count} {what}")
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise OptionError(f"{path}: {values} must be non-negative with a positive sum")


def _check_kernels(ds, prefix):
    for suffix in ("", "2"):
        size = ds[f"blur_kernel_size{suffix}"]
        if size < 7 or size % 2 == 0:
            raise OptionError(f"{prefix}blur_kernel_size{suffix}: {size} must be odd and at least 7")
        families = ds[f"kernel_list{suffix}"]
        if not families:
            raise OptionError(f"{prefix}kernel_list{suffix}: name at least one kernel family")
        _weights(ds[f"kernel_prob{suffix}"], len(families), f"{prefix}kernel_prob{suffix}",
                 f"kernel families in kernel_list{suffix}")
        _probability(ds[f"sinc_prob{suffix}"], f"{prefix}sinc_prob{suffix}")
        _range(ds[f"blur_sigma{suffix}"], f"{prefix}blur_sigma{suffix}")
        if ds[f"blur_sigma{suffix}"][0] <= 0:
            raise OptionError(f"{prefix}blur_sigma{suffix}: sigmas must be positive, got {ds[f'blur_sigma{suffix}']}")
        for key in ("betag_range", "betap_range"):
            _range(ds[f"{key}{suffix}"], f"{prefix}{key}{suffix}", low=1e-3, around_one=True)
    _probability(ds["final_sinc_prob"], f"{prefix}final_sinc_prob")


def _check_stages(deg):
    for suffix in ("", "2"):
        _weights(deg[f"resize_prob{suffix}"], 3, f"{SECTION}.resize_prob{suffix}", "resize kinds [up, down, keep]")
        _range(deg[f"resize_range{suffix}"], f"{SECTION}.resize_range{suffix}", low=1e-3, around_one=True)
        for key in ("gaussian_noise_prob", "gray_noise_prob"):
            _probability(deg[f"{key}{suffix}"], f"{SECTION}.{key}{suffix}")
        _range(deg[f"noise_range{suffix}"], f"{SECTION}.noise_range{suffix}", low=0)
        _range(deg[f"poisson_scale_range{suffix}"], f"{SECTION}.poisson_scale_range{suffix}", low=0)
        _range(deg[f"jpeg_range{suffix}"], f"{SECTION}.jpeg_range{suffix}", low=1, high=100)
    _probability(deg["second_blur_prob"], f"{SECTION}.second_blur_prob")
    if deg["queue_size"] < 0:
        raise OptionError(f"{SECTION}.queue_size: {deg['queue_size']} must be 0 (no pool) or positive")


def check_degradation(opt, phase_of):
    """Errors for `mode: GT` datasets and, when one trains, for the `degradation` section."""
    on_the_fly = False
    for name, ds in opt["datasets"].items():
        if ds["mode"] != "GT":
            continue
        prefix = f"datasets.{name}."
        if phase_of(name) != "train":
            raise OptionError(f"{prefix}mode: GT (LR made by on-the-fly degradations) is for training sets only")
        if not ds["dataroot_GT"] and not ds["train_list"]:
            raise OptionError(f"{prefix}dataroot_GT: required for mode GT (a folder, an .lmdb, or set train_list)")
        if ds["dataroot_LQ"]:
            raise OptionError(f"{prefix}dataroot_LQ: mode GT makes the LR on the fly; remove it or use mode LQGT")
        if ds["color"] != "RGB":
            raise OptionError(f"{prefix}color: mode GT degrades RGB images (JPEG, colour noise); use color RGB")
        _check_kernels(ds, prefix)
        gt_size = opt[SECTION]["gt_size"]
        if gt_size is not None and (gt_size <= 0 or gt_size % opt["scale"] or gt_size > ds["GT_size"]):
            raise OptionError(f"{SECTION}.gt_size: {gt_size} must be a positive multiple of scale {opt['scale']} "
                              f"and at most {prefix}GT_size ({ds['GT_size']})")
        on_the_fly = True
    if on_the_fly:
        _check_stages(opt[SECTION])
