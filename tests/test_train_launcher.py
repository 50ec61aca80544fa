"""train.py's launcher decisions, option errors that stop before any process starts, stop signals,
the default metric of best_G and cuDNN autotuning (in this process; tests/test_train_ddp.py,
test_train_failures.py and test_train_preemption.py run real processes)."""
import logging
import os
import signal
from types import SimpleNamespace

import pytest
import torch

from rwsr.cli.train import main as train_main
from rwsr.engine import launcher
from rwsr.engine.preemption import StopSignals
from rwsr.engine.session import apply_cudnn_benchmark
from rwsr.engine.validation import choose_best_metric
from rwsr.options import validate
from rwsr.runtime import Runtime, cpu_runtime
from train_helpers import make_data, tiny_options, write_options

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "CUDA_VISIBLE_DEVICES")


def run_train(*args, capsys):
    try:
        code = train_main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return SimpleNamespace(returncode=code or 0, stdout=out.out, stderr=out.err)


def one_line_error(result, *fragments, code=2):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture()
def option_file(tmp_path, monkeypatch):
    for var in TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)
    data = make_data(str(tmp_path / "data"))
    opt = tiny_options(str(tmp_path), data, device="auto")
    return write_options(str(tmp_path / "tiny.yml"), opt), opt


def test_nproc_with_launcher_pytorch_is_an_option_error(option_file, capsys):
    result = run_train("-opt", option_file[0], "--nproc", "2", "--launcher", "pytorch", capsys=capsys)
    one_line_error(result, "--nproc", "--launcher pytorch")
    one_line_error(run_train("-opt", option_file[0], "--nproc", "0", capsys=capsys), "--nproc: 0")


@pytest.mark.parametrize("gpus, visible, gpu_ids, fragment", [
    (2, None, [6, 7], "gpu_ids: [6, 7] names more GPUs than exist (this machine has 2"),
    (1, "3", [0, 1], "gpu_ids: [0, 1] names more GPUs than exist (CUDA_VISIBLE_DEVICES=3 leaves 1"),
    (4, None, [1, 1], "gpu_ids: [1, 1] must name distinct GPUs"),
])
def test_gpu_ids_naming_missing_gpus_is_an_option_error(option_file, capsys, monkeypatch, gpus, visible, gpu_ids,
                                                         fragment):
    monkeypatch.setattr(launcher, "cuda_device_count", lambda: gpus)
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    ids = "[" + ",".join(str(i) for i in gpu_ids) + "]"
    result = run_train("-opt", option_file[0], "--set", f"gpu_ids={ids}", capsys=capsys)
    one_line_error(result, fragment)
    assert "training" not in result.stdout


def test_gpu_ids_decide_how_many_processes_start(option_file, monkeypatch):
    opt = dict(option_file[1], gpu_ids=[2, 3])
    monkeypatch.setattr(launcher, "cuda_device_count", lambda: 4)
    assert launcher.processes_to_start(opt, "none", None) == 2
    assert launcher.processes_to_start(dict(opt, gpu_ids=[3]), "none", None) == 1
    assert launcher.processes_to_start(opt, "none", 3) == 3  # --nproc wins
    assert launcher.processes_to_start(opt, "pytorch", None) == 1  # a launcher started this process
    assert launcher.processes_to_start(dict(opt, device="cpu"), "none", None) == 1  # gpu_ids mean nothing there
    monkeypatch.setattr(launcher, "cuda_device_count", lambda: 0)
    assert launcher.processes_to_start(opt, "none", None) == 1  # no GPU: the CPU, one process
    monkeypatch.setenv("RANK", "0"), monkeypatch.setenv("WORLD_SIZE", "2"), monkeypatch.setenv("LOCAL_RANK", "0")
    assert launcher.processes_to_start(opt, "none", 2) == 1  # started by torchrun


def test_children_get_the_arguments_and_the_environment_of_torchrun(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert launcher.child_arguments(["-opt", "a.yml", "--nproc", "2", "--set", "x=1", "--nproc=3"]) == [
        "-opt", "a.yml", "--set", "x=1", "--launcher", "pytorch"]
    env = launcher.child_environment(1, 2, 29999, [6, 7])
    assert {key: env[key] for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                                      "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")} == {
        "RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999",
        "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "6,7"}
    assert env["PYTHONPATH"].split(os.pathsep)[0] == launcher.PACKAGE_ROOT
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")  # the cluster's choice wins
    assert launcher.child_environment(0, 2, 29999, [0, 1])["CUDA_VISIBLE_DEVICES"] == "4,5"


def test_a_stop_signal_is_only_recorded_and_the_handlers_are_restored():
    before = signal.getsignal(signal.SIGUSR1)
    with StopSignals(["SIGUSR1", "SIGTERM"]) as stop:
        assert not stop.agree(cpu_runtime())
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal changes nothing
        assert stop.received == "SIGUSR1" and stop.agree(cpu_runtime()) and stop.agreed
    assert signal.getsignal(signal.SIGUSR1) is before


def test_on_main_raises_every_exception_of_a_single_process():
    with pytest.raises(ZeroDivisionError):
        cpu_runtime().on_main(lambda: 1 / 0)


def best(model, available, caplog, **val):
    opt = validate({"name": "x", "model": model, "datasets": {"train": {"dataroot_GT": "d"}}, "train": {"niter": 1},
                    "val": val})
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        choice = choose_best_metric(opt, available, logging.getLogger("best-metric-test"))
    return choice, [record.getMessage() for record in caplog.records]


def test_best_generator_of_gan_models_is_chosen_by_lpips_when_available(caplog):
    assert best("sr", True, caplog) == (("psnr", "max"), [])
    assert best("srgan", True, caplog) == (("lpips", "min"), [])
    assert best("srgan_al", True, caplog) == (("lpips", "min"), [])
    choice, warnings = best("srgan", False, caplog)
    assert choice == ("psnr", "max") and len(warnings) == 1 and "LPIPS is unavailable" in warnings[0]
    choice, warnings = best("srgan", True, caplog, metrics=["psnr", "ssim"])
    assert choice == ("psnr", "max") and "lpips is not among val.metrics" in warnings[0]
    assert best("srgan", True, caplog, best_metric="ssim") == (("ssim", "max"), [])  # as asked
    assert best("srgan", False, caplog, best_metric="psnr", best_mode="min") == (("psnr", "min"), [])


def test_cudnn_benchmark_is_on_by_default_for_cuda_training(monkeypatch):
    opt = validate({"name": "x", "datasets": {"train": {"dataroot_GT": "d"}}, "train": {"niter": 1}})
    assert opt["train"]["cudnn_benchmark"] is True
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    apply_cudnn_benchmark(opt, torch.device("cpu"))
    assert torch.backends.cudnn.benchmark is False
    apply_cudnn_benchmark(opt, torch.device("cuda", 0))
    assert torch.backends.cudnn.benchmark is True
    opt["train"]["cudnn_benchmark"] = False
    apply_cudnn_benchmark(opt, torch.device("cuda", 0))
    assert torch.backends.cudnn.benchmark is False


def test_ddp_is_asked_to_find_unused_parameters_only_where_the_options_need_it(monkeypatch):
    from rwsr.models import build_model
    from rwsr.utils.logger import setup_logger
    asked = []
    monkeypatch.setattr(Runtime, "wrap_ddp", lambda self, net, **kwargs: asked.append(kwargs) or net)
    base = {"name": "x", "device": "cpu", "datasets": {"train": {"dataroot_GT": "d"}},
            "network_G": {"nf": 4, "nb": 1, "gc": 4}, "network_D": {"nf": 4, "nlayer": 1}}
    cases = [("sr", {}, {}, False),
             ("srgan", {"feature_weight": 0, "gan_weight": 0}, {}, True),  # pixel only: y_1
             ("srgan", {"feature_weight": 0, "pixel_weight": 0}, {}, True),  # GAN only: y_p
             ("srgan", {"feature_weight": 0}, {}, False),  # y_1 and y_p: every parameter
             ("srgan", {"feature_weight": 0, "gan_weight": 0, "exclusion_weight": 0.1}, {}, False),
             ("srgan", {"feature_weight": 0, "gan_weight": 0}, {"which_model_G": "RRDB"}, False)]
    for model, train, network_g, expected in cases:
        asked.clear()
        opt = validate(dict(base, model=model, train={"niter": 1, "feature_pretrained": False, **train},
                            network_G=dict(base["network_G"], **network_g)))
        build_model(opt, cpu_runtime(), setup_logger(None))
        assert asked[0].get("find_unused", False) is expected, (model, train, network_g)
        assert all(kwargs.get("broadcast_buffers") is False for kwargs in asked[1:])  # D
