"""What training reads: the training loader, its on-the-fly degradation and noise pool, every validation loader."""
from ..data import build_dataloader, build_dataset, build_noise_pool
from ..data.degradations import build_degradation
from ..options.loader import dataset_phase
from ..utils.errors import OptionError


def dataset_keys(opt, phase):
    """`datasets` keys of one phase, in option-file order."""
    return [key for key in opt["datasets"] if dataset_phase(key) == phase]


class TrainingData:
    """Built on every rank, so that a mismatched pair fails everywhere, at start."""

    def __init__(self, opt, runtime, seed):
        train_keys = dataset_keys(opt, "train")
        if len(train_keys) > 1:
            raise OptionError(f"datasets: one training set is supported, found {', '.join(train_keys)}")
        self.train_name = train_keys[0]
        train_opt = opt["datasets"][self.train_name]
        prefix = f"datasets.{self.train_name}"
        self.train_set = build_dataset(train_opt, opt, "train")
        self.train_loader = build_dataloader(self.train_set, train_opt, "train", seed, rank=runtime.rank,
                                             world_size=runtime.world_size,
                                             pin_memory=runtime.device.type == "cuda", option_prefix=prefix)
        self.sampler = self.train_loader.sampler
        self.batch_per_process = self.train_loader.batch_size
        self.noise_pool = build_noise_pool(train_opt, opt["scale"], runtime.device, seed, "train", runtime.rank)
        self.degradation = build_degradation(opt, train_opt, runtime.device, (seed or 0) + runtime.rank)
        queue_size = opt["degradation"]["queue_size"]
        if self.degradation is not None and queue_size % self.batch_per_process:
            raise OptionError(f"degradation.queue_size: {queue_size} is not a multiple of the batch per process "
                              f"({self.batch_per_process}); Real-ESRGAN's pool swaps whole batches")
        self.val_sets, self.val_loaders = {}, {}
        for key in dataset_keys(opt, "val"):
            self.val_sets[key] = build_dataset(opt["datasets"][key], opt, "val")
            self.val_loaders[key] = build_dataloader(self.val_sets[key], opt["datasets"][key], "val", seed,
                                                     option_prefix=f"datasets.{key}")

    def to_device(self, batch, device):
        """(LR, HR) of a training batch on the device: transferred, or degraded there (mode GT), then noise."""
        gt = batch["GT"].to(device, non_blocking=True)
        if self.degradation is not None:
            lq, gt = self.degradation(gt)
        else:
            lq = batch["LQ"].to(device, non_blocking=True)
        if self.noise_pool is not None:
            lq = self.noise_pool.inject(lq)
        return lq, gt

    def rank_state(self):
        """This process's random state of the data (the loader's follows from seed, epoch and position)."""
        pool, degradation = self.noise_pool, self.degradation
        return {"noise_pool": pool.state_dict() if pool is not None else None,
                "degradation": degradation.state_dict() if degradation is not None else None}

    def load_rank_state(self, state):
        if self.noise_pool is not None and state.get("noise_pool"):
            self.noise_pool.load_state_dict(state["noise_pool"])
        if self.degradation is not None and state.get("degradation"):
            self.degradation.load_state_dict(state["degradation"])

    def batches_per_epoch(self):
        return self.sampler.share_size() // self.batch_per_process

    def describe(self):
        val = ", ".join(f"{key}, {len(dataset)} pairs" for key, dataset in self.val_sets.items()) or "none"
        return f"training set {self.train_name}: {len(self.train_set)} pairs; validation set: {val}"
