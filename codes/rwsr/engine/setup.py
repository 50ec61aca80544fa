"""Everything built before the first iteration: seed, resume bundle, data, model.

Every check that can fail on user input runs here, before the experiment folder
is touched and before any training.
"""
import random

from ..data import build_dataloader, build_dataset, build_noise_pool
from ..models.runtime import broadcast_object
from ..options.loader import dataset_phase
from ..utils.errors import OptionError, RwsrError
from ..utils.experiment import experiment_paths
from .checkpoints import find_latest_bundle, read_bundle
from .resume import check_compatible


def dataset_names(opt, phase):
    return [name for name in opt["datasets"] if dataset_phase(name) == phase]


def single_dataset_name(opt, phase):
    names = dataset_names(opt, phase)
    if len(names) > 1:
        raise OptionError(f"datasets: one {phase} dataset is supported, found {', '.join(names)}")
    return names[0] if names else None


def on_main(runtime, fn):
    """fn() on rank 0, its result (or its RwsrError) on every rank."""
    payload = None
    if runtime.is_main:
        try:
            payload = ("ok", fn())
        except RwsrError as err:
            payload = ("error", (str(err), err.exit_code))
    kind, value = broadcast_object(payload, runtime)
    if kind == "error":
        raise RwsrError(value[0], exit_code=value[1])
    return value


def read_resume_bundle(opt, auto_resume, logger):
    """The checkpoint to resume from (path.resume_state, else the newest with --auto_resume) or None."""
    explicit = opt["path"]["resume_state"]
    if explicit:
        bundle = read_bundle(explicit)
    elif auto_resume:
        state_dir = experiment_paths(opt)["training_state"]
        bundle = find_latest_bundle(state_dir, logger)
        if bundle is None:
            logger.info("--auto_resume: no readable training state in %s; starting from scratch", state_dir)
    else:
        return None
    if bundle is not None:
        check_compatible(bundle["state"], opt, bundle["path"])
    return bundle


def resolve_seed(opt, bundle, runtime):
    """The saved run's seed when resuming, else manual_seed, else a random one (same on every rank)."""
    if bundle is not None:
        seed = bundle["state"]["seed"]
    elif opt["train"]["manual_seed"] is not None:
        seed = opt["train"]["manual_seed"]
    else:
        seed = broadcast_object(random.randint(1, 10000), runtime)
    opt["train"]["manual_seed"] = seed
    return seed


class TrainingData:
    """Training loader (+ noise pool) and the validation loader."""

    def __init__(self, opt, runtime, seed):
        self.train_name = single_dataset_name(opt, "train")
        train_opt = opt["datasets"][self.train_name]
        prefix = f"datasets.{self.train_name}"
        self.train_set = build_dataset(train_opt, opt, "train")
        self.train_loader = build_dataloader(self.train_set, train_opt, "train", seed, rank=runtime.rank,
                                             world_size=runtime.world_size,
                                             pin_memory=runtime.device.type == "cuda", option_prefix=prefix)
        self.sampler = self.train_loader.sampler
        self.batch_per_process = self.train_loader.batch_size
        self.noise_pool = build_noise_pool(train_opt, opt["scale"], runtime.device, seed, "train", runtime.rank)
        self.val_name = single_dataset_name(opt, "val")
        self.val_set = self.val_loader = None
        if self.val_name is not None:
            # Built on every rank: a mismatched pair fails everywhere, at start.
            val_opt = opt["datasets"][self.val_name]
            self.val_set = build_dataset(val_opt, opt, "val")
            self.val_loader = build_dataloader(self.val_set, val_opt, "val", seed,
                                               option_prefix=f"datasets.{self.val_name}")

    def batches_per_epoch(self):
        return self.sampler.share_size() // self.batch_per_process
