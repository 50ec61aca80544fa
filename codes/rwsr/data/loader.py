"""DataLoaders for training and validation, and moving batches to the device."""
import torch
from torch.utils.data import DataLoader

from ..options.schema import DATASET, with_defaults
from ..utils.errors import OptionError, RwsrError
from .sampler import EpochSampler


class _CleanErrorLoader(DataLoader):
    """A DataLoader whose worker errors stay one-line RwsrErrors.

    PyTorch re-raises a worker's exception with the worker's traceback in the
    message; for our own errors only the last line (the message) matters.
    """

    def __iter__(self):
        try:
            yield from super().__iter__()
        except RwsrError as err:
            text = str(err)
            if "Original Traceback" not in text:
                raise
            last_line = text.rstrip().splitlines()[-1]
            message = last_line.split(": ", 1)[1] if ": " in last_line else last_line
            raise RwsrError(message) from None


def _training_batch(dataset, dataset_opt, world_size, option_prefix):
    total = dataset_opt["batch_size"]
    if total < 1 or total % world_size:
        raise OptionError(f"{option_prefix}.batch_size: {total} is not a positive multiple of the "
                          f"{world_size} processes; it is the total over all processes")
    per_process = total // world_size
    share = EpochSampler(dataset, world_size=world_size).share_size()
    if share < per_process:
        raise RwsrError(f"{option_prefix}: {len(dataset)} training samples give {share} per process, fewer than "
                        f"the batch of {per_process}; add images or lower {option_prefix}.batch_size", exit_code=2)
    return per_process


def build_dataloader(dataset, dataset_opt, phase, seed, rank=0, world_size=1, pin_memory=False,
                     option_prefix=None):
    """Training: shuffled (EpochSampler), per-process batch, drop_last, persistent workers.

    Validation/test: batch 1 in file order; with world_size > 1 each rank gets a
    disjoint share (pass world_size=1 to see every image). The loader's seed is
    given to the dataset, so augmentation follows (seed, epoch, index).
    """
    option_prefix = option_prefix or f"datasets.{phase}"
    if hasattr(dataset, "set_seed"):
        dataset.set_seed(seed)
    workers = max(int(dataset_opt.get("n_workers") or 0), 0)
    if phase == "train":
        batch_size = _training_batch(dataset, dataset_opt, world_size, option_prefix)
        sampler = EpochSampler(dataset, shuffle=with_defaults(DATASET, dataset_opt)["use_shuffle"], seed=seed,
                               rank=rank, world_size=world_size)
        drop_last = True
    else:
        batch_size, drop_last, workers = 1, False, min(workers, 1)
        sampler = EpochSampler(dataset, shuffle=False, rank=rank, world_size=world_size, pad=False)
    # The loader draws a base seed per iterator; a private generator keeps that
    # from advancing the global torch RNG, which the training state saves.
    generator = torch.Generator().manual_seed(int(seed or 0) % 2**63)
    return _CleanErrorLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                             pin_memory=pin_memory, drop_last=drop_last, persistent_workers=workers > 0,
                             generator=generator)
