"""Process setup: single process, or one process per GPU (or CPU) under a launcher.

The launcher is torchrun, train.py's own (rwsr.engine.launcher), or any that sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (srun, mpirun with a wrapper).
Multi-node training uses torchrun's rendezvous (e.g. --nnodes 2 --rdzv-backend c10d
--rdzv-endpoint HOST:PORT on every node).
"""
import datetime
import os

import torch
import torch.distributed as dist

from ..runtime import Runtime, apply_gpu_ids, under_torchrun  # noqa: F401 (re-exported: process setup)
from ..utils.errors import RwsrError
from .failures import FailureChannel

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _pick_device(device_opt, local_rank):
    if device_opt == "cpu" or (device_opt == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RwsrError("device: cuda requested but no CUDA device is available; use device: auto or cpu",
                        exit_code=2)
    index = local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def init_runtime(launcher, device_opt="auto", timeout_minutes=30):
    """Runtime for this process; joins the process group under --launcher pytorch."""
    if launcher == "none":
        return Runtime(_pick_device(device_opt, 0))
    missing = [var for var in _TORCHRUN_VARS if var not in os.environ]
    if missing:
        raise RwsrError(f"--launcher pytorch: {', '.join(missing)} not set; start with "
                        "torchrun --nproc_per_node=N codes/train.py -opt FILE --launcher pytorch", exit_code=2)
    local_rank = int(os.environ["LOCAL_RANK"])
    device = _pick_device(device_opt, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=timeout_minutes),
                                device_id=device if device.type == "cuda" else None)
    # host-side agreements (stop flag, objects, barriers) over gloo: no device synchronisation
    control = dist.new_group(backend="gloo") if backend != "gloo" else None
    return Runtime(device, rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                   control_group=control)


def shutdown(runtime):
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def run_in_processes(launcher, device_opt, work):
    """work(runtime) in this process's place among all; returns its exit code.

    When any process fails, every process ends (rwsr.engine.failures) with that process's message.
    """
    runtime = init_runtime(launcher, device_opt)
    if not runtime.distributed:
        return work(runtime)
    channel = FailureChannel(runtime.rank, runtime.world_size)
    try:
        code = work(runtime)
    except BaseException as err:
        reported = channel.report(err)
        if reported is err:
            raise
        raise reported from None
    channel.close()  # before the barrier: once every rank passed it, rank 0 may end (and its store with it)
    runtime.barrier()
    shutdown(runtime)
    return code
