"""Checks that every input path named in the options exists."""
import os

from ..utils.errors import OptionError

DATASET_INPUTS = ("dataroot_GT", "dataroot_LQ", "dataroot_LR", "noise_data", "train_list")
PATH_INPUTS = ("pretrain_model_G", "pretrain_model_D", "resume_state")


def input_paths(opt):
    """(option key, path) for every input the options name."""
    for name, ds in opt["datasets"].items():
        for key in DATASET_INPUTS:
            if ds.get(key):
                yield f"datasets.{name}.{key}", ds[key]
    for key in PATH_INPUTS:
        if opt["path"].get(key):
            yield f"path.{key}", opt["path"][key]


def check_input_paths(opt):
    for key, path in input_paths(opt):
        if not os.path.exists(path):
            raise OptionError(f"{key}: {path} does not exist; fix the path in the option file or with --set {key}=...")
