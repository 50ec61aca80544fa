"""A failure on any rank ends every rank, non-zero, with the failing rank's one-line message: under
torchrun, under train.py's own launcher (--nproc) and under a launcher that only sets the environment
(srun-style). Failures are injected with RWSR_TEST_FAULT (rwsr.engine.faults) on rank 0 and rank 1,
in a step, in validation, in resume and while writing a checkpoint."""
import os
import subprocess
import sys

import pytest

from conftest import REPO
from train_helpers import two_rank_options, write_options

TRAIN = os.path.join(REPO, "codes", "train.py")
# a hang (the collective timeout is 30 minutes) fails the test; the processes end within seconds
TIMEOUT = 300


def free_port():
    from rwsr.engine.launcher import free_port as pick
    return pick()


@pytest.fixture(scope="module")
def option_file(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("failures"))
    opt = two_rank_options(root, "fail", val_freq=2)
    return write_options(os.path.join(root, "fail.yml"), opt)


def env_with(fault, **extra):
    return dict(os.environ, RWSR_TEST_FAULT=fault, OMP_NUM_THREADS="1", **extra)


def under_torchrun(path, fault, *args):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
               TRAIN, "-opt", path, "--launcher", "pytorch", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env_with(fault))
    return [result.returncode], result.stderr


def under_nproc(path, fault, *args):
    result = subprocess.run([sys.executable, TRAIN, "-opt", path, "--nproc", "2", *args], capture_output=True,
                            text=True, timeout=TIMEOUT, env=env_with(fault))
    return [result.returncode], result.stderr


def under_environment(path, fault, *args):
    """Two processes started with RANK, WORLD_SIZE, ... only, as srun with a wrapper would."""
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, TRAIN, "-opt", path, "--launcher", "pytorch", *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=env_with(fault, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                                           MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
             for rank in (0, 1)]
    errors = [proc.communicate(timeout=TIMEOUT)[1] for proc in procs]
    return [proc.returncode for proc in procs], errors


@pytest.mark.parametrize("launch, fault, rank, where, args", [
    (under_torchrun, "validation:0:2:raise", 0, "validation at iteration 2", ()),
    (under_nproc, "step:1:2:raise", 1, "step at iteration 2", ()),
    (under_environment, "resume:0:0:raise", 0, "resume at iteration 0", ("--auto_resume",)),
    (under_environment, "checkpoint:1:2:raise", 1, "checkpoint at iteration 2", ()),
], ids=["torchrun-validation-rank0", "nproc-step-rank1", "environment-resume-rank0", "environment-checkpoint-rank1"])
def test_a_failure_on_one_rank_ends_every_rank_with_its_message(option_file, launch, fault, rank, where, args):
    codes, stderr = launch(option_file, fault, "--set", f"name={fault.split(':')[0]}{rank}", *args)
    message = f"error: process {rank} of 2 failed: RuntimeError: injected failure in {where}"
    assert all(code not in (0, None) for code in codes), (codes, stderr)
    if isinstance(stderr, list):  # one stream per process: each ends with the failing rank's message
        for text in stderr:
            assert text.strip().splitlines()[-1].startswith(message), text[-2000:]
    else:  # both processes' streams in one: the failing rank and the other one both say it
        assert stderr.count(message) >= 2, stderr[-3000:]
