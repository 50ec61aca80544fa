"""One training session from resolved options: build and check everything, then train."""
import logging
import logging.handlers
import os

import torch

from ..models import build_model
from ..options import dump_options
from ..utils.experiment import experiment_paths, prepare_experiment
from ..utils.logger import setup_logger
from .faults import inject
from .resume import read_resume_bundle, resolve_seed
from .rng import seed_everything
from .trainer import Trainer
from .training_data import TrainingData


def _log_file_logger(log_file, rank, level, buffered):
    """The logger writing to the experiment's train.log, starting with the records of the setup phase."""
    logger = setup_logger(log_file, rank=rank, level=level)
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            for record in buffered:
                handler.handle(record)
    return logger


def apply_cudnn_benchmark(opt, device):
    """cuDNN times its algorithms once per input shape: worth it for the fixed-size training crops."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = opt["train"]["cudnn_benchmark"]


def _read_resume_bundle(opt, auto_resume, logger):
    inject("resume", 0, 0)  # rank 0 reads the checkpoint for every rank
    return read_resume_bundle(opt, auto_resume, logger)


def run_training(opt, runtime, auto_resume=False, dry_run=False, level=logging.INFO):
    """Train as the options say; returns the exit code (0, or PREEMPTED_EXIT_CODE after a stop signal).
    User errors raise RwsrError before any training."""
    logger = setup_logger(None, rank=runtime.rank, level=level)
    setup_records = logging.handlers.BufferingHandler(capacity=100000)  # train.log exists only later
    logger.addHandler(setup_records)
    bundle = runtime.on_main(lambda: _read_resume_bundle(opt, auto_resume, logger))
    seed = resolve_seed(opt, bundle, runtime)
    logger.info("random seed %d; device %s; %d process(es)", seed, runtime.device, runtime.world_size)
    if os.environ.get("RWSR_LAUNCHED_BY"):
        logger.info("processes started by %s (as torchrun would)", os.environ["RWSR_LAUNCHED_BY"])
    apply_cudnn_benchmark(opt, runtime.device)
    seed_everything(seed)
    data = TrainingData(opt, runtime, seed)
    logger.info(data.describe())
    model = build_model(opt, runtime, logger)
    for name, net in model.networks().items():
        count = sum(p.numel() for p in net.parameters())
        logger.info("network %s: %s, %s parameters", name, type(net).__name__, f"{count:,d}")
    logger.removeHandler(setup_records)
    if dry_run:
        logger.info("dry run OK: options, data and networks are valid (experiment %s)", opt["name"])
        return 0

    paths, archived = experiment_paths(opt), None
    if runtime.is_main:
        paths, archived = prepare_experiment(opt, dump_options(opt), resume=bundle is not None)
    runtime.barrier()
    logger = _log_file_logger(paths["log"], runtime.rank, level, setup_records.buffer)
    if archived:
        logger.info("existing experiment folder archived to %s", archived)
    trainer = Trainer(opt, runtime, data, model, paths, logger)
    if bundle is not None:
        trainer.resume(bundle)
        del bundle  # the loaded copies of networks and optimiser states are no longer needed
    return trainer.run()
