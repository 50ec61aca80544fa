"""One training session from resolved options: build, check, prepare folders, train."""
import logging
import logging.handlers

from ..models.runtime import barrier
from ..options import dump_options
from ..utils.experiment import experiment_paths, prepare_experiment
from ..utils.logger import setup_logger
from .rng import seed_everything
from .setup import TrainingData, on_main, read_resume_bundle, resolve_seed
from .trainer import Trainer


def _buffer_records(logger):
    """Keep the records of the setup phase for the log file, which exists only afterwards."""
    buffer = logging.handlers.BufferingHandler(capacity=100000)
    logger.addHandler(buffer)
    return buffer


def _open_log_file(log_file, rank, level, buffered):
    logger = setup_logger(log_file, rank=rank, level=level)
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            for record in buffered:
                handler.handle(record)
    return logger


def run_training(opt, runtime, auto_resume=False, dry_run=False, level=logging.INFO):
    """Train as the options say; returns 0. User errors raise RwsrError before any training."""
    logger = setup_logger(None, rank=runtime.rank, level=level)
    buffer = _buffer_records(logger)
    bundle = on_main(runtime, lambda: read_resume_bundle(opt, auto_resume, logger))
    seed = resolve_seed(opt, bundle, runtime)
    logger.info("random seed %d; device %s; %d process(es)", seed, runtime.device, runtime.world_size)
    seed_everything(seed)
    data = TrainingData(opt, runtime, seed)
    logger.info("training set %s: %d pairs; validation set: %s", data.train_name, len(data.train_set),
                f"{data.val_name}, {len(data.val_set)} pairs" if data.val_set is not None else "none")
    trainer = Trainer(opt, runtime, data, logger)
    if dry_run:
        logger.removeHandler(buffer)
        logger.info("dry run OK: options, data and networks are valid (experiment %s)", opt["name"])
        return 0
    paths, archived = experiment_paths(opt), None
    if runtime.is_main:
        paths, archived = prepare_experiment(opt, dump_options(opt), resume=bundle is not None)
    barrier(runtime)
    logger.removeHandler(buffer)
    logger = _open_log_file(paths["log"], runtime.rank, level, buffer.buffer)
    if archived:
        logger.info("existing experiment folder archived to %s", archived)
    trainer.attach_outputs(paths)
    if bundle is not None:
        trainer.resume(bundle)
        del bundle  # the loaded copies of networks and optimiser states are no longer needed
    trainer.run()
    return 0

