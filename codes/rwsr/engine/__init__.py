"""Training engine: the loop, validation, checkpoints and distributed setup."""
from .distributed import apply_gpu_ids, init_runtime, shutdown  # noqa: F401
from .session import run_training  # noqa: F401
