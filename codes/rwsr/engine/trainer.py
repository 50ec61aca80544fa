"""The training loop: data -> noise -> model step -> logs, validation, checkpoints."""
import hashlib
import math
import time

import torch
import torch.distributed as dist

from ..archs.checkpoint import load_network
from ..models import build_model
from ..models.runtime import barrier, gather_objects
from ..options import dump_options
from ..utils.errors import RwsrError
from .checkpoints import CheckpointWriter
from .log import TensorBoard, WindowMeter, log_line
from .resume import changed_training_keys, check_networks_present
from .rng import capture_rng_states, restore_rng_states
from .validation import Validator, is_better


class TrainingDiverged(RwsrError):
    """A loss became NaN or Inf."""


def count_parameters(net):
    return sum(p.numel() for p in net.parameters())


def parameter_digest(net):
    digest = hashlib.sha256()
    for param in net.parameters():
        digest.update(param.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Trainer:
    def __init__(self, opt, runtime, data, logger):
        self.opt = opt
        self.runtime = runtime
        self.data = data
        self.logger = logger
        self.niter = opt["train"]["niter"]
        self.model = build_model(opt, runtime, logger)
        self.iteration = 0
        self.epoch = 0
        self.epoch_samples = 0  # samples of this rank's share already used in the current epoch
        self.best = None  # {"psnr", "iteration"} of best_G
        self.last_saved = None
        self.validator = self.writer = self.tensorboard = None
        for name, net in self.model.networks().items():
            logger.info("network %s: %s, %s parameters", name, type(net).__name__, f"{count_parameters(net):,d}")

    # ------------------------------------------------------------ setup
    def attach_outputs(self, paths):
        """Validation, checkpoints and TensorBoard (rank 0 only)."""
        if not self.runtime.is_main:
            return
        self.writer = CheckpointWriter(paths, self.opt)
        self.tensorboard = TensorBoard(self.opt, enabled=self.opt["use_tb_logger"])
        if self.data.val_loader is not None:
            self.validator = Validator(self.opt, self.data.val_loader, self.runtime.device,
                                       paths["val_images"], self.logger)

    def resume(self, bundle):
        """Restore networks, optimisers, position and random generators from a checkpoint."""
        state = bundle["state"]
        networks = self.model.networks()
        check_networks_present(bundle, networks)
        for name, net in networks.items():
            load_network(net, bundle["networks"][name], strict=True, logger=self.logger)
        self.model.load_optimizer_states(state["optimizers"])
        self.iteration, self.epoch = state["iteration"], state["epoch"]
        self.epoch_samples = state["epoch_samples"]
        self.best = state.get("best")
        self.last_saved = self.iteration
        self._restore_rank_state(state["ranks"])
        changed = changed_training_keys(state, self.opt)
        if changed:
            self.logger.warning("options changed since the saved run: %s", ", ".join(changed))
        self.logger.info("resumed from %s: epoch %d, iteration %d", bundle["path"], self.epoch, self.iteration)

    def _restore_rank_state(self, ranks):
        if len(ranks) != self.runtime.world_size:
            self.logger.warning("the state was saved by %d processes, now %d: random generators are reseeded, "
                                "not restored", len(ranks), self.runtime.world_size)
            return
        mine = ranks[self.runtime.rank]
        restore_rng_states(mine["rng"])
        if self.data.noise_pool is not None and mine.get("noise_pool"):
            self.data.noise_pool.load_state_dict(mine["noise_pool"])

    # ------------------------------------------------------------ loop
    def run(self):
        self.logger.info("training from epoch %d, iteration %d to %d (%d iterations per epoch, %d samples per "
                         "process and iteration)", self.epoch, self.iteration, self.niter,
                         self.data.batches_per_epoch(), self.data.batch_per_process)
        meter = WindowMeter()
        try:
            while self.iteration < self.niter:
                self.data.sampler.set_epoch(self.epoch)
                self.data.sampler.skip(self.epoch_samples)
                if self._train_epoch(meter):
                    self.epoch += 1
                    self.epoch_samples = 0
            if self.last_saved != self.iteration:
                self.save_checkpoint()
            self.logger.info("end of training at iteration %d", self.iteration)
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()

    def _train_epoch(self, meter):
        """Iterate over the rest of the epoch; True when the epoch was used up."""
        last = time.perf_counter()
        for batch in self.data.train_loader:
            data_time = time.perf_counter() - last
            self.iteration += 1
            losses = self._step(batch)
            self.epoch_samples += self.data.batch_per_process
            now = time.perf_counter()
            meter.update(losses, now - last, data_time)
            self._periodic(meter)
            last = time.perf_counter()
            if self.iteration >= self.niter:
                return False
        return True

    def _step(self, batch):
        device = self.runtime.device
        lq = batch["LQ"].to(device, non_blocking=True)
        gt = batch["GT"].to(device, non_blocking=True)
        if self.data.noise_pool is not None:
            lq = self.data.noise_pool.inject(lq)
        self.model.update_learning_rate(self.iteration)
        return self._checked(self.model.optimize(self.iteration, lq, gt))

    def _checked(self, losses):
        """Loss values as floats (averaged over processes); NaN/Inf stops training."""
        names = list(losses)
        values = torch.stack([losses[name].detach().float().reshape(()) for name in names])
        if self.runtime.distributed:
            dist.all_reduce(values)
            values /= self.runtime.world_size
        values = values.cpu().tolist()
        for name, value in zip(names, values):
            if not math.isfinite(value):
                self._stop_diverged(name, value)
        return dict(zip(names, values))

    def _stop_diverged(self, name, value):
        if self.last_saved is None:
            kept = "no checkpoint was saved"
        else:
            kept = f"the last checkpoint (iteration {self.last_saved}) is kept"
        message = (f"loss {name} is {value} at iteration {self.iteration}; training stopped and {kept}; "
                   "lower the learning rate or check the data, then resume with --auto_resume")
        self.logger.error(message)
        raise TrainingDiverged(message)

    def _periodic(self, meter):
        it = self.iteration
        logger_opt, train_opt = self.opt["logger"], self.opt["train"]
        if logger_opt["print_freq"] and it % logger_opt["print_freq"] == 0:
            self._log(meter)
        if train_opt["val_freq"] and it % train_opt["val_freq"] == 0 and self.data.val_loader is not None:
            self.validate()
        if logger_opt["save_checkpoint_freq"] and it % logger_opt["save_checkpoint_freq"] == 0:
            self.save_checkpoint()

    def _log(self, meter):
        averages = meter.averages()
        iter_time, data_time = meter.mean_times()
        lr = self.model.current_lr()
        eta = iter_time * (self.niter - self.iteration)
        self.logger.info(log_line(self.epoch, self.iteration, lr, averages, iter_time, data_time, eta))
        if self.tensorboard is not None:
            self.tensorboard.scalars(averages, self.iteration, prefix="train/")
            self.tensorboard.scalars({"lr": lr, "iter_time": iter_time, "data_time": data_time}, self.iteration,
                                     prefix="train/")
        meter.reset()

    # ------------------------------------------------------------ validation and checkpoints
    def validate(self):
        if self.runtime.is_main:
            metrics = self.validator.run(self.model, self.iteration, self.tensorboard)
            self.logger.info("# validation # iter %d: %s", self.iteration, self.validator.describe(metrics))
            self.tensorboard.scalars(metrics, self.iteration, prefix="val/")
            best_psnr = self.best["psnr"] if self.best else None
            if is_better(metrics["psnr"], best_psnr):
                self.best = {"psnr": metrics["psnr"], "iteration": self.iteration}
                path = self.writer.save_generator(self.model.validation_network(), "best_G")
                self.logger.info("best PSNR %.4f dB so far: saved %s", metrics["psnr"], path)
            self.tensorboard.flush()
        barrier(self.runtime)

    def save_checkpoint(self):
        ranks = gather_objects(self._rank_state(), self.runtime)
        if self.runtime.distributed:
            self._check_replicas()
        if self.runtime.is_main:
            state = {"epoch": self.epoch, "epoch_samples": self.epoch_samples, "seed": self.opt["train"]["manual_seed"],
                     "options": dump_options(self.opt), "optimizers": self.model.optimizer_states(),
                     "ranks": ranks, "best": self.best}
            path = self.writer.save(self.iteration, self.model.networks(), state)
            self.logger.info("saved checkpoint of iteration %d (%s)", self.iteration, path)
        self.last_saved = self.iteration
        barrier(self.runtime)

    def _rank_state(self):
        pool = self.data.noise_pool
        return {"rng": capture_rng_states(), "noise_pool": pool.state_dict() if pool is not None else None}

    def _check_replicas(self):
        """DDP keeps every process's weights equal; a difference means the averaging broke."""
        for name, net in self.model.networks().items():
            digests = gather_objects(parameter_digest(net), self.runtime)
            if len(set(digests)) != 1:
                raise RwsrError(f"network {name}: weights differ between processes after iteration "
                                f"{self.iteration}; gradient averaging failed")
        self.logger.info("weights identical on all %d processes", self.runtime.world_size)
