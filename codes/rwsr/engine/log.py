"""Training log lines (losses, learning rate, timings, ETA) and TensorBoard output."""
import datetime
import os

import torch
import torch.distributed as dist


def format_eta(seconds):
    return str(datetime.timedelta(seconds=int(max(seconds, 0))))


class LossWindow:
    """Running sums of every loss since the last log line, kept on the training device.

    Nothing here waits for the device: the losses of an iteration are added as tensors, and the
    first iteration at which each loss was not finite is recorded on the device too. Values
    reach the host only in `averages()` and `first_non_finite()`, at print_freq and before a
    checkpoint or a validation.
    """

    def __init__(self):
        self.first_bad = {}  # loss name -> tensor: first iteration with a non-finite value, 0 if none
        self.bad_value = {}  # loss name -> tensor: its value there (nan, inf or -inf)
        self.reset()

    def reset(self):
        self.sums, self.counts = {}, {}
        self.iter_time = self.data_time = 0.0
        self.iterations = 0

    def update(self, losses, iteration, iter_time, data_time):
        for name, value in losses.items():
            value = value.detach().float().reshape(())
            self.sums[name] = self.sums[name] + value if name in self.sums else value
            self.counts[name] = self.counts.get(name, 0) + 1
            if name not in self.first_bad:
                self.first_bad[name] = torch.zeros((), dtype=torch.long, device=value.device)
                self.bad_value[name] = torch.zeros((), device=value.device)
            newly_bad = (self.first_bad[name] == 0) & ~torch.isfinite(value)
            self.first_bad[name] = torch.where(newly_bad, iteration, self.first_bad[name])
            self.bad_value[name] = torch.where(newly_bad, value, self.bad_value[name])
        self.iter_time += iter_time
        self.data_time += data_time
        self.iterations += 1

    def averages(self, runtime):
        """{name: mean since the last reset}, averaged over processes."""
        names = list(self.sums)
        if not names:
            return {}
        means = torch.stack([self.sums[name] / self.counts[name] for name in names])
        if runtime.distributed:
            dist.all_reduce(means)
            means /= runtime.world_size
        return dict(zip(names, means.cpu().tolist()))

    def first_non_finite(self, runtime):
        """(iteration, loss name, value) of the earliest non-finite loss on any process, or None."""
        names = list(self.first_bad)
        if not names:
            return None
        never = torch.iinfo(torch.long).max
        first = torch.stack([self.first_bad[name] for name in names])
        first = torch.where(first == 0, never, first)
        values = torch.stack([self.bad_value[name] for name in names])
        if runtime.distributed:  # every process must reach the same verdict
            earliest = first.clone()
            dist.all_reduce(earliest, op=dist.ReduceOp.MIN)
            dist.all_reduce(values, op=dist.ReduceOp.SUM)  # non-finite stays non-finite
            first = earliest
        iteration, index = (int(v) for v in torch.min(first, dim=0))
        if iteration == never:
            return None
        return iteration, names[index], float(values[index])

    def mean_times(self):
        n = max(self.iterations, 1)
        return self.iter_time / n, self.data_time / n


def log_line(epoch, iteration, lr, losses, iter_time, data_time, eta_seconds):
    """`<epoch:  1, iter:     200, lr:1.000e-04> l_g_pix: 1.2e-02 ... time: 0.512s data: 0.004s eta: 0:10:00`."""
    head = f"<epoch:{epoch:3d}, iter:{iteration:8,d}, lr:{lr:.3e}>"
    body = " ".join(f"{name}: {value:.4e}" for name, value in losses.items())
    tail = f"time: {iter_time:.3f}s data: {data_time:.3f}s eta: {format_eta(eta_seconds)}"
    return " ".join(part for part in (head, body, tail) if part)


class TensorBoard:
    """SummaryWriter under <tb_logger_root>/<name>; a no-op when disabled or not rank 0."""

    def __init__(self, opt, enabled):
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter
            self.log_dir = os.path.join(opt["path"]["tb_logger_root"], opt["name"])
            self.writer = SummaryWriter(log_dir=self.log_dir)

    def scalars(self, values, step, prefix=""):
        if self.writer is not None:
            for name, value in values.items():
                if value is not None:
                    self.writer.add_scalar(prefix + name, value, step)

    def image(self, tag, img_hwc, step):
        if self.writer is not None:
            self.writer.add_image(tag, img_hwc, step, dataformats="HWC" if img_hwc.ndim == 3 else "HW")

    def flush(self):
        if self.writer is not None:
            self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
