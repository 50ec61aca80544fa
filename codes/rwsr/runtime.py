"""Where training runs: the device, this process's rank among all, and what crosses processes.

A Runtime is built by rwsr.engine.distributed (from torchrun's environment, or the one that
train.py's own launcher sets) and handed down to the models, which use it only to wrap their
networks for gradient averaging.
"""
import inspect
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .utils.errors import RwsrError


class PeerFailure(RwsrError):
    """Another process failed; this one stops with its message."""


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # a gloo group for small host-side agreements (the stop flag); the default group when that is gloo
    control_group: Any = None

    @property
    def distributed(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0

    def wrap_ddp(self, net, find_unused=False, broadcast_buffers=True):
        """net wrapped for gradient averaging across processes; net itself in a single process.

        DDP averages gradients during backward. find_unused: some parameters may get no gradient in
        a step (a loss that reaches only one branch); DDP then searches the graph each step, so
        it is asked for only where the options need it. broadcast_buffers: buffers (BatchNorm
        running statistics) follow rank 0 at every forward. Batch statistics stay per process
        unless network_D.sync_bn made the discriminator's BatchNorm layers SyncBatchNorm.
        """
        if not self.distributed:
            return net
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        options = {}
        if not broadcast_buffers:  # newer torch names it forward_sync_buffers (buffers still agree at start)
            newer = "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
            options["forward_sync_buffers" if newer else "broadcast_buffers"] = False
        return nn.parallel.DistributedDataParallel(net, device_ids=device_ids, find_unused_parameters=find_unused,
                                                   **options)

    def broadcast(self, value, src=0):
        """value of rank src, on every rank."""
        if not self.distributed:
            return value
        holder = [value]
        dist.broadcast_object_list(holder, src=src, group=self.control_group)
        return holder[0]

    def gather(self, value):
        """List of value from every rank (index = rank)."""
        if not self.distributed:
            return [value]
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, value, group=self.control_group)
        return gathered

    def any_rank(self, flag):
        """True on every rank when flag is true on at least one (a collective: every rank must call it)."""
        if not self.distributed:
            return bool(flag)
        value = torch.tensor([1 if flag else 0], dtype=torch.int32)
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.control_group)
        return bool(value.item())

    def on_main(self, fn):
        """fn() run on rank 0; its result on every rank.

        Whatever fn raises is raised on rank 0 and reported on every other rank (as PeerFailure
        with rank 0's message), so that no rank waits for a result that never comes.
        """
        if not self.distributed:
            return fn()
        payload, failure = None, None
        if self.is_main:
            try:
                payload = ("ok", fn())
            except Exception as err:  # noqa: BLE001 - every failure must reach the other ranks
                failure = err
                message = (str(err) if isinstance(err, RwsrError)
                           else f"process 0 of {self.world_size} failed: {type(err).__name__}: {err}")
                payload = ("error", (message, getattr(err, "exit_code", 1)))
        kind, value = self.broadcast(payload)
        if failure is not None:
            raise failure
        if kind == "error":
            raise PeerFailure(value[0], exit_code=value[1])
        return value

    def barrier(self):
        if self.distributed:
            dist.barrier(group=self.control_group)


def under_torchrun():
    return all(var in os.environ for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def apply_gpu_ids(gpu_ids, launcher):
    """Official option files name GPUs with gpu_ids; honour them for a run started without a launcher.

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
