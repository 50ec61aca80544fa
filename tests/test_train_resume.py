"""Exact resume: a run killed with SIGKILL after a checkpoint and resumed with --auto_resume ends
with the same bits as an uninterrupted run (EDL with noise injection, EMA, an epoch boundary,
validation before and after the kill): weights, EMA, best generator and its metric, loader
position, noise and global random generators."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO
from rwsr.archs.network_files import read_checkpoint
from train_helpers import (assert_same_weights, experiment_dir, make_data, read_weights, tiny_options, train_log,
                           write_options)

NITER = 16
TRAIN = os.path.join(REPO, "codes", "train.py")
# 12 pairs / batch 2: 6 iterations per epoch, so the resumed runs cross epoch boundaries
EXTRA = {"train": {"niter": NITER, "feature_layer": "conv2_2", "ema_decay": 0.9, "lr_steps": [6, 10], "val_freq": 4},
         "logger": {"save_checkpoint_freq": 4, "print_freq": 4}}


# tiny networks gain nothing from more threads; one per run also keeps runs apart on 2 cores
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def validation_psnr(opt):
    """{iteration: PSNR text} of the validation lines of the run's log (the last line per iteration)."""
    return {int(it): psnr for it, psnr in re.findall(r"# validation # iter (\d+): psnr: ([\d.]+)", train_log(opt))}


def best_generator_path(opt):
    models = os.path.join(experiment_dir(opt), "models")
    return next(os.path.join(models, name) for name in os.listdir(models) if name.startswith("best_G."))


def command(path, *extra):
    return [sys.executable, TRAIN, "-opt", path, *extra]


def run_killed_then_resumed(root, data, name, workers, save_format):
    logger = dict(EXTRA["logger"], save_format=save_format)
    opt = tiny_options(root, data, name=name, n_workers=workers, train=EXTRA["train"], logger=logger)
    path = write_options(os.path.join(root, f"{name}.yml"), opt)
    state_dir = os.path.join(experiment_dir(opt), "training_state")
    proc = subprocess.Popen(command(path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 300
    while not os.path.exists(os.path.join(state_dir, "4.state")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(state_dir, f"{NITER}.state")), "finished before it could be killed"
    resumed = subprocess.run(command(path, "--auto_resume"), capture_output=True, text=True, timeout=600, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    return opt


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("resume"))
    data = make_data(os.path.join(root, "data"))
    opt = tiny_options(root, data, name="uninterrupted", n_workers=0, **EXTRA)
    result = subprocess.run(command(write_options(os.path.join(root, "ref.yml"), opt)), capture_output=True,
                            text=True, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr
    return root, data, opt


def final_state(opt):
    return torch.load(os.path.join(experiment_dir(opt), "training_state", f"{NITER}.state"), weights_only=True)


def assert_same_tree(first, second, where):
    if isinstance(first, torch.Tensor):
        assert torch.equal(first, second), where
    elif isinstance(first, dict):
        assert first.keys() == second.keys(), where
        for key in first:
            assert_same_tree(first[key], second[key], f"{where}.{key}")
    elif isinstance(first, (list, tuple)):
        assert len(first) == len(second), where
        for index, (a, b) in enumerate(zip(first, second)):
            assert_same_tree(a, b, f"{where}[{index}]")
    else:
        assert first == second, where


@pytest.mark.parametrize("workers, save_format", [(0, "pth"), (2, "safetensors")])
def test_killed_and_resumed_run_matches_uninterrupted_run_bitwise(reference, workers, save_format):
    root, data, ref_opt = reference
    opt = run_killed_then_resumed(root, data, f"killed_w{workers}", workers, save_format)
    for net in ("G", "D", "G_ema"):
        assert_same_weights(read_weights(ref_opt, NITER, net), read_weights(opt, NITER, net))
    ref_state, state = final_state(ref_opt), final_state(opt)
    for key in ("epoch", "epoch_samples", "best"):  # loader position, best metric and its iteration
        assert state[key] == ref_state[key], key
    assert ref_state["best"]["iteration"] in (4, 8, 12, 16)
    # every process's global generators and the noise pool's own generator
    assert_same_tree(ref_state["ranks"], state["ranks"], "ranks")
    assert validation_psnr(opt)[12] == validation_psnr(ref_opt)[12]
    assert validation_psnr(opt)[16] == validation_psnr(ref_opt)[16]
    best_ref = read_checkpoint(best_generator_path(ref_opt))[0]
    assert_same_weights(best_ref, read_checkpoint(best_generator_path(opt))[0])
    if save_format == "safetensors":
        _, metadata = read_checkpoint(os.path.join(experiment_dir(opt), "models", f"{NITER}_G.safetensors"))
        assert metadata["nf"] == 8 and metadata["which_model_G"] == "RRDBNet" and metadata["scale"] == 4
