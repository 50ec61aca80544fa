"""Training and test data: datasets, loaders, sampler, the noise pool (and, in `degradations`, on-the-fly LR).

`build_dataset(dataset_opt, opt, phase)` picks the dataset for `mode`;
`build_dataloader` (rwsr.data.loader) wraps it for training or validation.
"""
from ..options.schema import DATASET, with_defaults
from ..utils.errors import RwsrError
from .gt_dataset import GTImageDataset
from .loader import build_dataloader
from .noise_pool import NoisePool, build_noise_pool
from .paired_dataset import PairedImageDataset
from .sampler import EpochSampler
from .single_dataset import SingleImageDataset


def _option_prefix(dataset_opt, opt, phase):
    for name, section in (opt.get("datasets") or {}).items():
        if section is dataset_opt:
            return f"datasets.{name}"
    return f"datasets.{phase}"


def build_dataset(dataset_opt, opt, phase):
    """PairedImageDataset (mode LQGT), SingleImageDataset (mode LR) or GTImageDataset (mode GT, training)."""
    prefix = _option_prefix(dataset_opt, opt, phase)
    mode = with_defaults(DATASET, dataset_opt)["mode"]
    if mode == "LQGT":
        seed = (opt.get("train") or {}).get("manual_seed") or 0
        return PairedImageDataset(dataset_opt, opt["scale"], phase, seed=seed, option_prefix=prefix)
    if mode == "LR":
        return SingleImageDataset(dataset_opt, option_prefix=prefix)
    if mode == "GT":
        seed = (opt.get("train") or {}).get("manual_seed") or 0
        return GTImageDataset(dataset_opt, opt["scale"], seed=seed, option_prefix=prefix)
    raise RwsrError(f"{prefix}.mode: {mode!r} is not one of LQGT, LR, GT", exit_code=2)


__all__ = ["build_dataset", "build_dataloader", "EpochSampler", "GTImageDataset", "NoisePool",
           "build_noise_pool", "PairedImageDataset", "SingleImageDataset"]
