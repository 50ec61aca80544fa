"""Distributed training on 2 CPU processes (gloo) under torchrun."""
import os
import subprocess
import sys

import torch

from conftest import REPO
from train_helpers import experiment_dir, make_data, read_weights, tiny_options, train_log, write_options


def torchrun(*args, port):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)


def test_gradient_averaging_keeps_both_processes_identical(tmp_path):
    result = torchrun(os.path.join(REPO, "tests", "ddp_probe.py"), str(tmp_path), port=29561)
    assert result.returncode == 0, result.stderr[-3000:]
    ddp = [torch.load(tmp_path / f"ddp_rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    local = [torch.load(tmp_path / f"local_rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert any(key.startswith("D.") for key in ddp[0]) and any(key.startswith("G.") for key in ddp[0])
    for key in ddp[0]:
        assert torch.equal(ddp[0][key], ddp[1][key]), key
    # without averaging each rank follows its own batches: the ranks and the averaged run all differ
    assert any(not torch.equal(local[0][k], local[1][k]) for k in local[0])
    for rank in (0, 1):
        assert any(not torch.equal(ddp[rank][k], local[rank][k]) for k in ddp[rank])


def test_train_py_under_torchrun_logs_and_saves_once(tmp_path):
    data = make_data(str(tmp_path / "data"))
    opt = tiny_options(str(tmp_path), data, name="ddp", niter=4, train={"feature_weight": 0.0, "val_freq": 4},
                       datasets={"train": dict(tiny_options(str(tmp_path), data)["datasets"]["train"], batch_size=4),
                                 "val": tiny_options(str(tmp_path), data)["datasets"]["val"]},
                       logger={"print_freq": 2, "save_checkpoint_freq": 2})
    path = write_options(str(tmp_path / "ddp.yml"), opt)
    result = torchrun(os.path.join(REPO, "codes", "train.py"), "-opt", path, "--launcher", "pytorch", port=29562)
    assert result.returncode == 0, result.stderr[-3000:]
    log = train_log(opt)
    assert "2 process(es)" in log
    assert log.count("<epoch:") == 2 and log.count("# validation #") == 1
    assert log.count("weights identical on all 2 processes") == 2
    # batch_size is the total: 2 samples per process
    assert "2 samples per process and iteration" in log
    assert sorted(os.listdir(os.path.join(experiment_dir(opt), "training_state"))) == ["2.state", "4.state"]
    assert read_weights(opt, 4)["conv_first.weight"].shape[0] == 8
