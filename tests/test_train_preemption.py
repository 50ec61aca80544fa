"""Preemption: a stop signal ends training after the current iteration with a training state saved at
it (exit code 75); --auto_resume then ends with the same bits as an uninterrupted run. A second signal
while that state is written changes nothing."""
import os
import signal
import subprocess
import sys

from conftest import REPO
from train_helpers import assert_same_weights, experiment_dir, make_data, read_weights, tiny_options, write_options

from rwsr.engine.preemption import PREEMPTED_EXIT_CODE

NITER = 8
TRAIN = os.path.join(REPO, "codes", "train.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
EXTRA = {"train": {"niter": NITER, "feature_layer": "conv2_2", "ema_decay": 0.9, "lr_steps": [5], "val_freq": 100},
         "logger": {"save_checkpoint_freq": 100, "print_freq": 1}}


def run(path, *extra, env=ENV):
    return subprocess.run([sys.executable, TRAIN, "-opt", path, *extra], capture_output=True, text=True, timeout=600,
                          env=env)


def states(opt):
    return sorted(os.listdir(os.path.join(experiment_dir(opt), "training_state")))


def test_sigterm_saves_the_iteration_and_auto_resume_matches_an_uninterrupted_run(tmp_path):
    data = make_data(str(tmp_path / "data"))
    ref_opt = tiny_options(str(tmp_path), data, name="uninterrupted", **EXTRA)
    assert run(write_options(str(tmp_path / "ref.yml"), ref_opt)).returncode == 0
    opt = tiny_options(str(tmp_path), data, name="preempted", **EXTRA)
    path = write_options(str(tmp_path / "preempted.yml"), opt)
    # a second SIGTERM arrives while the stop's training state is being written
    env = dict(ENV, RWSR_TEST_FAULT="checkpoint_write:0:*:SIGTERM")
    proc = subprocess.Popen([sys.executable, TRAIN, "-opt", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    for line in proc.stdout:  # the first log line of an iteration: training is under way
        if "<epoch:" in line:
            proc.send_signal(signal.SIGTERM)
            break
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == PREEMPTED_EXIT_CODE, err
    assert "stopped by SIGTERM after iteration" in out and "--auto_resume" in out
    saved = states(opt)
    assert len(saved) == 1 and int(saved[0].split(".")[0]) < NITER, saved  # the stop's state, nothing else
    resumed = run(path, "--auto_resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {os.path.join(experiment_dir(opt), 'training_state', saved[0])}" in resumed.stdout
    for net in ("G", "D", "G_ema"):
        assert_same_weights(read_weights(ref_opt, NITER, net), read_weights(opt, NITER, net))


def test_preemption_signals_are_configurable(tmp_path, monkeypatch, capsys):
    """train.preemption_signals chooses the signals that stop training (train.py's main in this process)."""
    from rwsr.cli.train import main as train_main
    data = make_data(str(tmp_path / "data"))
    opt = tiny_options(str(tmp_path), data, name="usr1", **EXTRA)
    path = write_options(str(tmp_path / "usr1.yml"), opt)
    monkeypatch.setenv("RWSR_TEST_FAULT", "step:0:2:SIGUSR1")
    seen = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(signum))
    try:
        assert train_main(["-opt", path, "--set", "train.preemption_signals=[SIGTERM]", "name=ignored",
                           "train.niter=3"]) == 0
        assert seen == [signal.SIGUSR1]  # not a stop signal here: training went on to the end
        assert train_main(["-opt", path, "--set", "train.preemption_signals=[SIGUSR1]"]) == PREEMPTED_EXIT_CODE
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert "stopped by SIGUSR1 after iteration 2" in capsys.readouterr().out and states(opt) == ["2.state"]
