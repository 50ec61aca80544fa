"""The training loop: data -> noise -> model step -> logs, validation, checkpoints."""
import hashlib
import os
import time

from ..archs.network_files import load_network
from ..options import dump_options
from ..utils.errors import RwsrError
from .checkpoints import CheckpointWriter
from .faults import inject
from .log import LossWindow, TensorBoard, log_line
from .preemption import PREEMPTED_EXIT_CODE, StopSignals
from .resume import changed_training_keys, check_networks_present
from .rng import capture_rng_states, restore_rng_states
from .validation import BestTracker, Validator, choose_best_metric


class TrainingDiverged(RwsrError):
    """A loss became NaN or Inf."""


def parameter_digest(net):
    digest = hashlib.sha256()
    for param in net.parameters():
        digest.update(param.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Trainer:
    """Runs a model over the training data until train.niter; rank 0 writes every output."""

    def __init__(self, opt, runtime, data, model, paths, logger):
        self.opt, self.runtime, self.data, self.model, self.logger = opt, runtime, data, model, logger
        self.niter = opt["train"]["niter"]
        self.iteration = 0
        self.epoch = 0
        self.epoch_samples = 0  # samples of this rank's share already used in the current epoch
        self.last_saved = None
        self.losses = LossWindow()
        self.best_json = os.path.join(paths["root"], "best.json")
        val_keys = list(data.val_loaders)
        self.writer = self.validator = None
        self.tensorboard = TensorBoard(opt, enabled=opt["use_tb_logger"] and runtime.is_main)
        if runtime.is_main:
            self.writer = CheckpointWriter(paths, opt)
            if val_keys:
                self.validator = Validator(opt, data.val_loaders, runtime.device, paths["val_images"], logger)
        metric, mode = choose_best_metric(opt, self.validator is not None and self.validator.lpips is not None,
                                          logger if val_keys and runtime.is_main else None)
        self.best = BestTracker(metric, mode, opt["val"]["best_dataset"] or (val_keys[0] if val_keys else None))
        self.stop = StopSignals(opt["train"]["preemption_signals"])

    def resume(self, bundle):
        """Restore networks, optimisers, position, best generator and random generators from a checkpoint."""
        state = bundle["state"]
        inject("resume", self.runtime.rank, state["iteration"])  # after rank 0 read the checkpoint for all
        networks = self.model.networks()
        check_networks_present(bundle, networks)
        for name, net in networks.items():
            load_network(net, bundle["networks"][name], strict=True, logger=self.logger)
        self.model.load_optimizer_states(state["optimizers"])
        self.iteration, self.epoch = state["iteration"], state["epoch"]
        self.epoch_samples = state["epoch_samples"]
        self.best.load_state_dict(state.get("best"))
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
        self.data.load_rank_state(mine)

    # ------------------------------------------------------------ loop
    def run(self):
        """Train to train.niter; returns 0, or PREEMPTED_EXIT_CODE when a stop signal ended training early."""
        self.logger.info("training from epoch %d, iteration %d to %d (%d iterations per epoch, %d samples per "
                         "process and iteration)", self.epoch, self.iteration, self.niter,
                         self.data.batches_per_epoch(), self.data.batch_per_process)
        try:
            with self.stop:
                while self.iteration < self.niter and not self.stop.agreed:
                    self.data.sampler.set_epoch(self.epoch)
                    self.data.sampler.skip(self.epoch_samples)
                    if self._train_epoch():
                        self.epoch += 1
                        self.epoch_samples = 0
                if self.last_saved != self.iteration:
                    self._stop_if_diverged()
                    self.save_checkpoint()
        finally:
            self.tensorboard.close()
        if self.stop.agreed:
            self.logger.warning("stopped by %s after iteration %d with its training state saved; continue with "
                                "--auto_resume (exit code %d)", self.stop.received or "a signal to another process",
                                self.iteration, PREEMPTED_EXIT_CODE)
            return PREEMPTED_EXIT_CODE
        self.logger.info("end of training at iteration %d", self.iteration)
        return 0

    def _train_epoch(self):
        """Iterate over the rest of the epoch; True when the epoch was used up."""
        last = time.perf_counter()
        for batch in self.data.train_loader:
            data_time = time.perf_counter() - last
            self.iteration += 1
            losses = self._step(batch)
            self.epoch_samples += self.data.batch_per_process
            now = time.perf_counter()
            self.losses.update(losses, self.iteration, now - last, data_time)
            self._log_validate_save()
            last = time.perf_counter()
            if self.iteration >= self.niter or self.stop.agree(self.runtime):
                return False
        return True

    def _step(self, batch):
        inject("step", self.runtime.rank, self.iteration)
        lq, gt = self.data.to_device(batch, self.runtime.device)
        self.model.update_learning_rate(self.iteration)
        return self.model.optimize(self.iteration, lq, gt)

    def _log_validate_save(self):
        it = self.iteration
        logger_opt, train_opt = self.opt["logger"], self.opt["train"]
        log_now = logger_opt["print_freq"] and it % logger_opt["print_freq"] == 0
        validate_now = train_opt["val_freq"] and it % train_opt["val_freq"] == 0 and self.data.val_loaders
        save_now = logger_opt["save_checkpoint_freq"] and it % logger_opt["save_checkpoint_freq"] == 0
        if log_now or validate_now or save_now:
            self._stop_if_diverged()  # never log, validate or save a diverged model
        if log_now:
            self._log()
        if validate_now:
            self.validate()
        if save_now:
            self.save_checkpoint()

    def _stop_if_diverged(self):
        found = self.losses.first_non_finite(self.runtime)
        if found is None:
            return
        iteration, name, value = found
        kept = (f"the last checkpoint (iteration {self.last_saved}) is kept" if self.last_saved is not None
                else "no checkpoint was saved")
        message = (f"loss {name} is {value} at iteration {iteration}; training stopped and {kept}; "
                   "lower the learning rate or check the data, then resume with --auto_resume")
        self.logger.error(message)
        raise TrainingDiverged(message)

    def _log(self):
        averages = self.losses.averages(self.runtime)
        iter_time, data_time = self.losses.mean_times()
        lr = self.model.current_lr()
        eta = iter_time * (self.niter - self.iteration)
        self.logger.info(log_line(self.epoch, self.iteration, lr, averages, iter_time, data_time, eta))
        self.tensorboard.scalars(dict(averages, lr=lr, iter_time=iter_time, data_time=data_time), self.iteration,
                                 prefix="train/")
        self.losses.reset()

    # ------------------------------------------------------------ validation and checkpoints
    def validate(self):
        inject("validation", self.runtime.rank, self.iteration)
        if self.runtime.is_main:
            results = self.validator.run(self.model, self.iteration, self.tensorboard)
            for key, metrics in results.items():
                self.logger.info("# validation # iter %d: %s [%s]", self.iteration, self.validator.describe(metrics),
                                 key)
                self.tensorboard.scalars(metrics, self.iteration, prefix=f"{key}/")
            if self.best.update(results, self.iteration):
                path = self.writer.save_generator(self.model.validation_network(), "best_G")
                self.best.write_json(self.best_json, os.path.relpath(path, os.path.dirname(self.best_json)))
                self.tensorboard.scalars({f"best_{self.best.metric}": self.best.value}, self.iteration,
                                         prefix=f"{self.best.dataset}/")
                self.logger.info("best %s %.4f on %s so far: saved %s", self.best.metric, self.best.value,
                                 self.best.dataset, path)
            self.tensorboard.flush()
        self.runtime.barrier()

    def save_checkpoint(self):
        inject("checkpoint", self.runtime.rank, self.iteration)
        ranks = self.runtime.gather(self._rank_state())
        if self.runtime.distributed:
            self._check_replicas()
        if self.runtime.is_main:
            state = {"epoch": self.epoch, "epoch_samples": self.epoch_samples, "seed": self.opt["train"]["manual_seed"],
                     "options": dump_options(self.opt), "optimizers": self.model.optimizer_states(),
                     "ranks": ranks, "best": self.best.state_dict()}
            path = self.writer.save(self.iteration, self.model.networks(), state)
            self.logger.info("saved checkpoint of iteration %d (%s)", self.iteration, path)
        self.last_saved = self.iteration
        self.runtime.barrier()

    def _rank_state(self):
        return {"rng": capture_rng_states(), **self.data.rank_state()}

    def _check_replicas(self):
        """DDP keeps every process's weights equal; a difference means the averaging broke."""
        for name, net in self.model.networks().items():
            digests = self.runtime.gather(parameter_digest(net))
            if len(set(digests)) != 1:
                raise RwsrError(f"network {name}: weights differ between processes after iteration "
                                f"{self.iteration}; gradient averaging failed")
        self.logger.info("weights identical on all %d processes", self.runtime.world_size)
