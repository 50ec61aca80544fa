"""Distributed training on 2 CPU processes (gloo): torchrun, and train.py's own launcher (--nproc)."""
import math
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from ddp_probe import OBJECTIVES, UNAVERAGED
from rwsr.engine.preemption import PREEMPTED_EXIT_CODE
from train_helpers import (assert_same_weights, experiment_dir, read_weights, train_log, two_rank_options,
                           write_options)

TRAIN = os.path.join(REPO, "codes", "train.py")
# DDP against one process on the same total batch: |w_ddp - w_single| / |w_single - w_initial| after 3 steps.
# Objectives that are means over samples agree to float rounding (measured <= 1e-5). The relativistic GAN
# loss and the variants' terms couple the samples of a batch, which each process computes on its half, as
# in any DDP training (measured <= 6.4e-3); without averaging a process is 4e-2 to 0.26 away.
SAMPLE_MEAN_TOLERANCE = 1e-4
COUPLED_TOLERANCE = 2e-2
SAMPLE_MEAN = ("sr", "srgan_pixel_only", "srgan_lsgan", "srgan_pixel_exclusion", "rrdb_pixel_only")
# wgan-gp draws one interpolation weight per sample: the halves draw other numbers than the whole batch
NOT_COMPARED = ("srgan_wgan_gp",)


def torchrun(*args, port):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)


def relative_change(weights, reference, initial, prefix):
    """|weights - reference| / |reference - initial| over the parameters whose names start with prefix."""
    def norm(diffs):
        return math.sqrt(sum(float((d.double() ** 2).sum()) for d in diffs))
    keys = [key for key in reference if key.startswith(prefix)]
    return norm(weights[k] - reference[k] for k in keys) / norm(reference[k] - initial[k] for k in keys)


def test_every_objective_trains_under_ddp_like_one_process_on_the_whole_batch(tmp_path):
    result = torchrun(os.path.join(REPO, "tests", "ddp_probe.py"), str(tmp_path), port=29561)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"objectives_rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert set(ranks[0]) == set(OBJECTIVES)
    for name, runs in ranks[0].items():
        assert_same_weights(runs["ddp"], ranks[1][name]["ddp"])
        for prefix in ("G.", "D."):
            if not any(key.startswith(prefix) for key in runs["single"]) or name in NOT_COMPARED:
                continue
            tolerance = SAMPLE_MEAN_TOLERANCE if name in SAMPLE_MEAN else COUPLED_TOLERANCE
            args = runs["single"], runs["initial"], prefix
            assert relative_change(runs["ddp"], *args) < tolerance, (name, prefix)
            if name in UNAVERAGED:  # the tolerance tells averaged from unaveraged training
                for rank in (0, 1):
                    assert relative_change(ranks[rank][name]["local"], *args) > 2 * COUPLED_TOLERANCE, (name, rank)


@pytest.fixture(scope="module")
def torchrun_run(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ddp"))
    opt = two_rank_options(root, "ddp", val_freq=4)
    path = write_options(os.path.join(root, "ddp.yml"), opt)
    result = torchrun(TRAIN, "-opt", path, "--launcher", "pytorch", port=29562)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, opt, path


def test_train_py_under_torchrun_logs_and_saves_once(torchrun_run):
    _, opt, _ = torchrun_run
    log = train_log(opt)
    assert "2 process(es)" in log
    assert log.count("<epoch:") == 2 and log.count("# validation #") == 1
    assert log.count("weights identical on all 2 processes") == 2
    # batch_size is the total: 2 samples per process
    assert "2 samples per process and iteration" in log
    assert sorted(os.listdir(os.path.join(experiment_dir(opt), "training_state"))) == ["2.state", "4.state"]
    assert read_weights(opt, 4)["conv_first.weight"].shape[0] == 8


def test_nproc_2_equals_torchrun_with_2_processes_bit_for_bit(torchrun_run):
    root, ref_opt, path = torchrun_run
    result = subprocess.run([sys.executable, TRAIN, "-opt", path, "--nproc", "2", "--set", "name=nproc"],
                            capture_output=True, text=True, timeout=600, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "starting 2 training processes on the CPU (gloo)" in result.stdout
    opt = dict(ref_opt, name="nproc")
    assert "processes started by train.py" in train_log(opt) and "2 process(es)" in train_log(opt)
    for net in ("G", "D"):
        for iteration in (2, 4):
            assert_same_weights(read_weights(ref_opt, iteration, net), read_weights(opt, iteration, net))


def test_a_signal_to_one_process_stops_every_rank_after_the_same_iteration(torchrun_run):
    """SIGUSR1 reaches only rank 1, in iteration 3: both ranks save iteration 3 together and exit 75; the
    resumed run ends with the bits of the uninterrupted torchrun run."""
    root, ref_opt, path = torchrun_run
    env = dict(os.environ, RWSR_TEST_FAULT="step:1:3:SIGUSR1")
    command = [sys.executable, TRAIN, "-opt", path, "--nproc", "2", "--set", "name=preempted"]
    stopped = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=root, env=env)
    assert stopped.returncode == PREEMPTED_EXIT_CODE, stopped.stderr[-3000:]
    opt = dict(ref_opt, name="preempted")
    assert "stopped by a signal to another process after iteration 3" in train_log(opt)
    state = torch.load(os.path.join(experiment_dir(opt), "training_state", "3.state"), weights_only=True)
    assert state["iteration"] == 3 and len(state["ranks"]) == 2  # gathered from both ranks at iteration 3
    resumed = subprocess.run(command + ["--auto_resume"], capture_output=True, text=True, timeout=600, cwd=root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for net in ("G", "D"):
        assert_same_weights(read_weights(ref_opt, 4, net), read_weights(opt, 4, net))
