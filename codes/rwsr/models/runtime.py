"""Where a model runs: device, process rank and world size, and DDP wrapping."""
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


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


def cpu_runtime():
    return Runtime(torch.device("cpu"))


def wrap_ddp(net, runtime):
    """Wrap net for gradient averaging across processes; identity in a single process.

    DDP averages gradients during backward; its buffers (BatchNorm running statistics)
    follow rank 0. Batch statistics stay per process unless network_D.sync_bn made
    the discriminator's BatchNorm layers SyncBatchNorm (rwsr.archs.build_discriminator).
    """
    if not runtime.distributed:
        return net
    device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=device_ids)


def broadcast_object(value, runtime, src=0):
    if not runtime.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def gather_objects(value, runtime):
    """List of value from every rank (index = rank)."""
    if not runtime.distributed:
        return [value]
    gathered = [None] * runtime.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def barrier(runtime):
    if runtime.distributed:
        dist.barrier()
