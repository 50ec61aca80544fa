"""Training and test data: datasets, loaders, sampler and the noise pool.

`build_dataset(dataset_opt, opt, phase)` picks the dataset for `mode`;
`build_dataloader` (rwsr.data.loader) wraps it for training or validation.
"""
import importlib

from ..utils.errors import RwsrError

# Imported on first use, so that preprocessing scripts that only need
# rwsr.data.imresize or rwsr.data.lmdb_io do not pay for importing torch.
_LAZY = {
    "batch_to_device": "loader", "build_dataloader": "loader",
    "NoisePool": "noise_pool", "build_noise_pool": "noise_pool",
    "PairedImageDataset": "paired_dataset", "EpochSampler": "sampler",
    "SingleImageDataset": "single_dataset",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _option_prefix(dataset_opt, opt, phase):
    for name, section in (opt.get("datasets") or {}).items():
        if section is dataset_opt:
            return f"datasets.{name}"
    return f"datasets.{phase}"


def build_dataset(dataset_opt, opt, phase):
    """PairedImageDataset (mode LQGT) or SingleImageDataset (mode LR) for phase train/val/test."""
    prefix = _option_prefix(dataset_opt, opt, phase)
    mode = dataset_opt.get("mode", "LQGT")
    if mode == "LQGT":
        seed = (opt.get("train") or {}).get("manual_seed") or 0
        from .paired_dataset import PairedImageDataset
        return PairedImageDataset(dataset_opt, opt["scale"], phase, seed=seed, option_prefix=prefix)
    if mode == "LR":
        from .single_dataset import SingleImageDataset
        return SingleImageDataset(dataset_opt, option_prefix=prefix)
    raise RwsrError(f"{prefix}.mode: {mode!r} is not one of LQGT, LR", exit_code=2)


__all__ = ["build_dataset", "build_dataloader", "batch_to_device", "EpochSampler", "NoisePool",
           "build_noise_pool", "PairedImageDataset", "SingleImageDataset"]
