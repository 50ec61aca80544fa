"""Training log lines (losses, learning rate, timings, ETA) and TensorBoard output."""
import datetime
import os
from collections import defaultdict


def format_eta(seconds):
    return str(datetime.timedelta(seconds=int(max(seconds, 0))))


class WindowMeter:
    """Averages of every loss and of the timings since the last log line."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.sums = defaultdict(float)
        self.counts = defaultdict(int)
        self.iter_time = 0.0
        self.data_time = 0.0
        self.iterations = 0

    def update(self, losses, iter_time, data_time):
        for name, value in losses.items():
            self.sums[name] += value
            self.counts[name] += 1
        self.iter_time += iter_time
        self.data_time += data_time
        self.iterations += 1

    def averages(self):
        return {name: self.sums[name] / self.counts[name] for name in self.sums}

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
