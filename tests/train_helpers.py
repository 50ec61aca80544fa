"""Tiny training setups for the engine tests: photo crops from skimage.data, option files."""
import os

import numpy as np
import torch
import yaml
from skimage import data as skdata

from rwsr.archs.network_files import read_checkpoint
from rwsr.utils.image_io import write_image
from rwsr.utils.imresize import imresize_uint8

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def _photo(name):
    img = getattr(skdata, name)()
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]


def write_pairs(folder, size, count, offset=0):
    """HR crops of size x size and their x4 MATLAB-bicubic LR partners under folder/{HR,LR}."""
    for index in range(count):
        photo = _photo(PHOTOS[(index + offset) % len(PHOTOS)])
        top = 40 + 23 * index % (photo.shape[0] - size - 40)
        left = 60 + 37 * index % (photo.shape[1] - size - 60)
        hr = np.ascontiguousarray(photo[top:top + size, left:left + size])
        write_image(os.path.join(folder, "HR", f"img{index:03d}.png"), hr)
        write_image(os.path.join(folder, "LR", f"img{index:03d}.png"), imresize_uint8(hr, 0.25))
    return os.path.join(folder, "HR"), os.path.join(folder, "LR")


def write_noise(folder, count=4, size=24, seed=0):
    rng = np.random.default_rng(seed)
    for index in range(count):
        patch = np.clip(128 + rng.normal(0, 6, (size, size, 3)), 0, 255).astype(np.uint8)
        write_image(os.path.join(folder, f"noise{index}.png"), patch)
    return folder


def make_data(root):
    """Training pairs (12 x 48px HR), validation pairs (2 x 64px HR) and noise patches."""
    train_hr, train_lr = write_pairs(os.path.join(root, "train"), 48, 12)
    val_hr, val_lr = write_pairs(os.path.join(root, "val"), 64, 2, offset=1)
    noise = write_noise(os.path.join(root, "noise"))
    return {"train_hr": train_hr, "train_lr": train_lr, "val_hr": val_hr, "val_lr": val_lr, "noise": noise}


def tiny_options(root, data, name="tiny", model="srgan", niter=6, n_workers=0, **sections):
    """An option dict for a tiny EDL run under root; sections override keys per section."""
    opt = {
        "name": name, "model": model, "scale": 4, "device": "cpu", "use_tb_logger": False,
        "datasets": {
            "train": {"name": "tiny", "mode": "LQGT", "aug": "noise", "noise_data": data["noise"],
                      "dataroot_GT": data["train_hr"], "dataroot_LQ": data["train_lr"], "n_workers": n_workers,
                      "batch_size": 2, "GT_size": 32},
            "val": {"name": "tiny_val", "mode": "LQGT", "dataroot_GT": data["val_hr"], "dataroot_LQ": data["val_lr"]},
        },
        "network_G": {"which_model_G": "RRDBNet", "nf": 8, "nb": 1, "gc": 8},
        "network_D": {"which_model_D": "NLayerDiscriminator", "nf": 8, "nlayer": 2},
        "path": {"experiments_root": os.path.join(root, "experiments"),
                 "tb_logger_root": os.path.join(root, "tb_logger"),
                 "pretrained_backbones": os.path.join(root, "no_backbones")},
        "train": {"niter": niter, "lr_G": 1e-3, "lr_D": 1e-3, "lr_steps": [4], "feature_weight": 1.0,
                  "feature_pretrained": False, "manual_seed": 3, "val_freq": 1000},
        "logger": {"print_freq": 1, "save_checkpoint_freq": 3},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            opt.setdefault(section, {}).update(values)
        else:
            opt[section] = values
    return opt


def two_rank_options(root, name, val_freq):
    """Options for the two-process tests: batch 4 in all, 4 iterations, validation every val_freq,
    logs and checkpoints every 2."""
    data = make_data(os.path.join(root, "data"))
    base = tiny_options(root, data)
    return tiny_options(root, data, name=name, niter=4, train={"feature_weight": 0.0, "val_freq": val_freq},
                        datasets={"train": dict(base["datasets"]["train"], batch_size=4),
                                  "val": base["datasets"]["val"]},
                        logger={"print_freq": 2, "save_checkpoint_freq": 2})


def write_options(path, opt):
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(opt, handle, sort_keys=False)
    return path


def experiment_dir(opt):
    return os.path.join(opt["path"]["experiments_root"], opt["name"])


def read_weights(opt, iteration, net="G"):
    models = os.path.join(experiment_dir(opt), "models")
    for ext in ("pth", "safetensors"):
        path = os.path.join(models, f"{iteration}_{net}.{ext}")
        if os.path.exists(path):
            return read_checkpoint(path)[0]
    raise FileNotFoundError(f"no {iteration}_{net} in {models}")


def assert_same_weights(first, second):
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def train_log(opt):
    with open(os.path.join(experiment_dir(opt), "train.log"), encoding="utf-8") as handle:
        return handle.read()
