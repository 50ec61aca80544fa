"""A progress bar for a train.py subprocess, driven by the iteration numbers it logs.

train.py logs `<epoch: E, iter: I, lr: ...> losses ... time: T s data: D s eta: ...` every
print_freq iterations (rwsr.engine.log.log_line); the bar follows I, so it moves at the
speed of training and needs no timer of its own. Warnings and errors are printed above it.
"""
import re
import sys

from tqdm import tqdm

from .scripts import train

TRAIN_LINE = re.compile(r"<epoch:\s*\d+, iter:\s*([\d,]+), lr:[^>]*>.*? time: ([\d.]+)s")
_START_LINE = re.compile(r"training from epoch \d+, iteration (\d+) to (\d+)")
_SHOWN_LEVELS = (" WARNING: ", " ERROR: ", "error: ")


def parse_train_line(line):
    """(iteration, seconds per iteration of the logged window) of a train.py log line, else None."""
    match = TRAIN_LINE.search(line)
    if match is None:
        return None
    return int(match.group(1).replace(",", "")), float(match.group(2))


class TrainingBar:
    """Turns train.py's output lines into tqdm updates; keeps the logged iteration times."""

    def __init__(self, title, total):
        self.bar = tqdm(total=total, desc=title, unit="it", file=sys.stderr, dynamic_ncols=True, leave=True)
        self.iteration_times = []

    def __call__(self, line):
        start = _START_LINE.search(line)
        if start:  # a resumed run starts past 0
            self.bar.total = int(start.group(2))
            self.bar.update(int(start.group(1)) - self.bar.n)
            return
        parsed = parse_train_line(line)
        if parsed is not None:
            iteration, seconds = parsed
            self.bar.set_postfix_str(f"{seconds:.2f} s/it logged", refresh=False)
            self.bar.update(max(iteration - self.bar.n, 0))
            self.iteration_times.append(seconds)
        elif any(level in line for level in _SHOWN_LEVELS):
            self.bar.write(line, file=sys.stderr)

    def close(self):
        self.bar.close()


def train_with_bar(title, total, options_path, *overrides, auto_resume=False):
    """Run train.py with a progress bar of `total` iterations."""
    bar = TrainingBar(title, total)
    try:
        train(options_path, *overrides, auto_resume=auto_resume, on_line=bar)
    finally:
        bar.close()
