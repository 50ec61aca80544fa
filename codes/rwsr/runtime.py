"""Where training runs: the device, this process's rank among all, and what crosses processes.

A Runtime is built by rwsr.engine.distributed (from torchrun's environment) and handed down to
the models, which use it only to wrap their networks for gradient averaging.
"""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .utils.errors import RwsrError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0

    def wrap_ddp(self, net):
        """net wrapped for gradient averaging across processes; net itself in a single process.

        DDP averages gradients during backward; its buffers (BatchNorm running statistics)
        follow rank 0. Batch statistics stay per process unless network_D.sync_bn made the
        discriminator's BatchNorm layers SyncBatchNorm (rwsr.archs.build_discriminator).
        """
        if not self.distributed:
            return net
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(net, device_ids=device_ids)

    def broadcast(self, value, src=0):
        """value of rank src, on every rank."""
        if not self.distributed:
            return value
        holder = [value]
        dist.broadcast_object_list(holder, src=src)
        return holder[0]

    def gather(self, value):
        """List of value from every rank (index = rank)."""
        if not self.distributed:
            return [value]
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def on_main(self, fn):
        """fn() run on rank 0; its result, or the RwsrError it raised, on every rank."""
        payload = None
        if self.is_main:
            try:
                payload = ("ok", fn())
            except RwsrError as err:
                payload = ("error", (str(err), err.exit_code))
        kind, value = self.broadcast(payload)
        if kind == "error":
            raise RwsrError(value[0], exit_code=value[1])
        return value

    def barrier(self):
        if self.distributed:
            dist.barrier()


def under_torchrun():
    return all(var in os.environ for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def apply_gpu_ids(gpu_ids, launcher):
    """Official option files name GPUs with gpu_ids; honour them for a single-process run.

    torchrun assigns devices by LOCAL_RANK and an explicit CUDA_VISIBLE_DEVICES wins.
    Must run before CUDA is first used.
    """
    if not gpu_ids or launcher != "none" or under_torchrun() or "CUDA_VISIBLE_DEVICES" in os.environ:
        return None
    value = ",".join(str(i) for i in gpu_ids)
    os.environ["CUDA_VISIBLE_DEVICES"] = value
    return value


def cpu_runtime():
    return Runtime(torch.device("cpu"))
