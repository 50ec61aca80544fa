"""Training engine: the launcher, the loop, validation, checkpoints and distributed setup."""
import logging

from ..utils.logger import setup_logger
from .launcher import launch, processes_to_start
from .preemption import PREEMPTED_EXIT_CODE  # noqa: F401


def train(opt, argv, launcher="none", nproc=None, **session_args):
    """Train as the options say, in this process or in the processes it starts; returns the exit code.

    session_args: auto_resume, dry_run, level (rwsr.engine.session.run_training).
    """
    setup_logger(None, level=session_args.get("level", logging.INFO))  # the launcher's lines (gpu_ids, processes)
    count = processes_to_start(opt, launcher, nproc)
    if count > 1:
        return launch(count, argv, opt)
    # imported only here: a launching parent never needs torch's distributed and training modules
    from .distributed import apply_gpu_ids, run_in_processes
    from .session import run_training
    apply_gpu_ids(opt["gpu_ids"], launcher)
    return run_in_processes(launcher, opt["device"], lambda runtime: run_training(opt, runtime, **session_args))
