"""Shared helpers for the network/loss/checkpoint tests (tiny networks, captured logs)."""
import contextlib
import logging

import torch

from rwsr.archs import build_generator
from rwsr.utils.logger import get_logger

TINY = dict(in_nc=3, out_nc=3, nf=8, nb=2, gc=4)


def tiny_generator(which="RRDBNet", upscale=4, **extra):
    return build_generator(dict(TINY, which_model_G=which, upscale=upscale, **extra))


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def text(self, level=logging.DEBUG):
        return "\n".join(r.getMessage() for r in self.records if r.levelno >= level)


@contextlib.contextmanager
def captured_project_log(logger=None):
    """Records of the project logger (or of the given one) while the block runs."""
    logger = logger or get_logger()
    handler = ListHandler()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def write_fake_vgg19(path, upto_conv=3):
    """A torchvision-style VGG19 file holding the first `upto_conv` convolutions (random values)."""
    gen = torch.Generator().manual_seed(3)
    indices, channels = [0, 2, 5, 7], [(3, 64), (64, 64), (64, 128), (128, 128)]
    state = {}
    for index, (cin, cout) in list(zip(indices, channels))[:upto_conv]:
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * 0.05
        state[f"features.{index}.bias"] = torch.randn(cout, generator=gen) * 0.05
    torch.save(state, path)
    return state
