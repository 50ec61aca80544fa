"""codes/train.py end to end on tiny networks: logs, TensorBoard, validation, checkpoints, errors."""
import json
import os
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import assert_one_line_error
from rwsr.archs.network_files import read_checkpoint
from rwsr.cli.train import main as train_main
from rwsr.utils.image_io import read_image, write_image
from train_helpers import experiment_dir, make_data, read_weights, tiny_options, train_log, write_options

LOSSES = ("l_g_pix", "l_g_pix1", "l_g_pix2", "l_g_fea", "l_g_gan1", "l_g_total", "l_d_real", "l_d_fake", "D_real", "D_fake")


def run_train(*args, capsys=None):
    """train.py's main in this process; returns (returncode, stdout, stderr) like subprocess.run."""
    try:
        code = train_main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr() if capsys is not None else SimpleNamespace(out="", err="")
    return SimpleNamespace(returncode=code or 0, stdout=out.out, stderr=out.err)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """6 EDL iterations: logs every 2, validation and checkpoints every 3, TensorBoard on."""
    root = str(tmp_path_factory.mktemp("run"))
    opt = tiny_options(root, data, name="base", niter=6, use_tb_logger=True,
                       train={"val_freq": 3, "feature_layer": "conv2_2"},
                       logger={"print_freq": 2, "save_checkpoint_freq": 3})
    path = write_options(os.path.join(root, "base.yml"), opt)
    assert run_train("-opt", path).returncode == 0
    return SimpleNamespace(root=root, opt=opt, path=path, log=train_log(opt))


def validation_psnr(log):
    """{iteration: psnr} from the validation lines."""
    found = re.findall(r"# validation # iter (\d+): psnr: ([\d.]+) ssim: [\d.]+ psnr_y: [\d.]+ ssim_y: [\d.]+ "
                       r"lpips: unavailable", log)
    return {int(it): float(psnr) for it, psnr in found}


def test_log_lines_name_epoch_iteration_lr_losses_times_and_eta(trained):
    lines = [line for line in trained.log.splitlines() if "<epoch:" in line]
    assert len(lines) == 3
    pattern = re.compile(r"<epoch:\s*(\d+), iter:\s*(\d+), lr:(\S+)> (.*) time: [\d.]+s data: [\d.]+s "
                         r"eta: \d+:\d\d:\d\d$")
    parsed = [pattern.search(line) for line in lines]
    assert all(parsed), lines
    assert [int(m.group(2)) for m in parsed] == [2, 4, 6]
    # lr_steps [4] halves the rate from iteration 4 on
    assert [float(m.group(3)) for m in parsed] == [1e-3, 5e-4, 5e-4]
    for match in parsed:
        names = re.findall(r"(\w+): [-+\d.e]+", match.group(4))
        assert tuple(names) == LOSSES


def test_tensorboard_event_file_holds_losses_lr_metrics_and_images(trained):
    events = EventAccumulator(os.path.join(trained.root, "tb_logger", "base"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    for tag in [f"train/{name}" for name in LOSSES] + ["train/lr", "val/psnr", "val/ssim", "val/psnr_y", "val/ssim_y"]:
        assert tag in tags["scalars"], tag
    assert [e.step for e in events.Scalars("train/l_g_pix")] == [2, 4, 6]
    logged = validation_psnr(trained.log)
    assert {e.step: round(e.value, 4) for e in events.Scalars("val/psnr")} == pytest.approx(logged, abs=1e-4)
    assert {"val/img000", "val/img001"} <= set(tags["images"])
    assert [e.step for e in events.Images("val/img000")] == [3, 6]


def reference_psnr(sr, gt, border=4):
    diff = sr[border:-border, border:-border].astype(np.float64) - gt[border:-border, border:-border]
    return 10 * np.log10(255.0 ** 2 / np.mean(diff ** 2))


def test_validation_saves_images_and_reports_psnr_of_them(trained, data):
    logged = validation_psnr(trained.log)
    assert set(logged) == {3, 6}
    for iteration, psnr in logged.items():
        values = []
        for name in ("img000", "img001"):
            sr = read_image(os.path.join(experiment_dir(trained.opt), "val_images", name, f"{name}_{iteration}.png"))
            values.append(reference_psnr(sr, read_image(os.path.join(data["val_hr"], f"{name}.png"))))
        assert np.mean(values) == pytest.approx(psnr, abs=1e-4)


def test_best_generator_is_the_one_with_the_highest_validation_psnr(trained):
    logged = validation_psnr(trained.log)
    best_iteration = max(logged, key=logged.get)
    best, _ = read_checkpoint(os.path.join(experiment_dir(trained.opt), "models", "best_G.pth"))
    expected = read_weights(trained.opt, best_iteration)
    assert all(torch.equal(best[k], expected[k]) for k in expected)


def test_checkpoint_files_are_plain_state_dicts(trained):
    models = os.path.join(experiment_dir(trained.opt), "models")
    assert sorted(os.listdir(models)) == ["3_D.pth", "3_G.pth", "6_D.pth", "6_G.pth", "best_G.pth"]
    plain = torch.load(os.path.join(models, "6_G.pth"), weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in plain.values()) and "conv_first.weight" in plain
    states = sorted(os.listdir(os.path.join(experiment_dir(trained.opt), "training_state")))
    assert states == ["3.state", "6.state"]
    state = torch.load(os.path.join(experiment_dir(trained.opt), "training_state", "6.state"), weights_only=True)
    assert state["iteration"] == 6 and set(state["optimizers"]) == {"G", "D"}


def copy_run(trained, tmp_path):
    """The base experiment copied under tmp_path, with an option file pointing there."""
    opt = dict(trained.opt, path=dict(trained.opt["path"], experiments_root=str(tmp_path / "experiments")),
               use_tb_logger=False)
    shutil.copytree(experiment_dir(trained.opt), experiment_dir(opt))
    return opt, write_options(str(tmp_path / "copy.yml"), opt)


@pytest.mark.parametrize("damage", ["truncate_state", "corrupt_generator"])
def test_unreadable_newest_checkpoint_falls_back_to_the_previous(trained, tmp_path, capsys, damage):
    opt, path = copy_run(trained, tmp_path)
    root = experiment_dir(opt)
    target = os.path.join(root, "training_state", "6.state") if damage == "truncate_state" \
        else os.path.join(root, "models", "6_G.pth")
    with open(target, "r+b") as handle:
        handle.truncate(os.path.getsize(target) // 2)
    result = run_train("-opt", path, "--auto_resume", "--set", "train.niter=7", capsys=capsys)
    assert result.returncode == 0, result.stderr
    assert "skipping checkpoint of iteration 6" in result.stdout
    assert "resumed from" in result.stdout and "3.state: epoch 0, iteration 3" in result.stdout
    assert os.path.exists(os.path.join(root, "training_state", "7.state"))


@pytest.mark.parametrize("override, fragment", [
    ("network_G.nf=16", "network_G.nf"),
    ("model=sr", "model"),
])
def test_resume_state_of_another_configuration_is_refused(trained, tmp_path, capsys, override, fragment):
    state = os.path.join(experiment_dir(trained.opt), "training_state", "3.state")
    result = run_train("-opt", trained.path, "--set", "name=other", f"path.resume_state={state}", override,
                       capsys=capsys)
    assert_one_line_error(result, fragment, "3.state", code=2)
    assert not os.path.exists(os.path.join(trained.opt["path"]["experiments_root"], "other"))


@pytest.mark.parametrize("override, fragment", [
    ("datasets.val.dataroot_GT=/no/such/val_folder", "datasets.val.dataroot_GT"),
    ("path.pretrain_model_G=/no/such/G.pth", "path.pretrain_model_G"),
])
def test_missing_inputs_stop_before_training(trained, capsys, override, fragment):
    result = run_train("-opt", trained.path, "--set", "name=missing", override, capsys=capsys)
    assert_one_line_error(result, fragment, "does not exist")
    assert not os.path.exists(os.path.join(trained.opt["path"]["experiments_root"], "missing"))


def test_validation_pair_of_wrong_size_fails_at_start(trained, data, tmp_path, capsys):
    lr_dir = tmp_path / "bad_LR"
    shutil.copytree(data["val_lr"], lr_dir)
    write_image(str(lr_dir / "img001.png"), np.zeros((15, 16, 3), np.uint8))
    result = run_train("-opt", trained.path, "--set", "name=badval", f"datasets.val.dataroot_LQ={lr_dir}",
                       capsys=capsys)
    assert_one_line_error(result, "img001.png", "15x16")
    assert "training from" not in result.stdout
    assert not os.path.exists(os.path.join(trained.opt["path"]["experiments_root"], "badval"))


def test_diverging_loss_stops_training_naming_iteration_and_loss(trained, tmp_path, capsys):
    result = run_train("-opt", trained.path, "--set", "name=nan", "train.lr_steps=[3]", "train.lr_gamma=1e33", "train.niter=8",
                       "logger.save_checkpoint_freq=1", "logger.keep_last=2", "train.val_freq=100", capsys=capsys)
    assert_one_line_error(result, "at iteration", "training stopped")
    message = [line for line in result.stderr.splitlines() if line.startswith("error:")][0]
    found = re.search(r"loss (\w+) is (nan|inf|-inf) at iteration (\d+).*last checkpoint \(iteration (\d+)\)", message)
    assert found, message
    stopped, kept = int(found.group(3)), int(found.group(4))
    # the rate jumps to 1e30 at iteration 3: its loss is still finite, the next one is not
    assert (kept, stopped) == (3, 4)
    root = os.path.join(trained.opt["path"]["experiments_root"], "nan")
    # keep_last 2: only the two newest training states remain, the newest from before the divergence;
    # network snapshots are all kept (logger.keep_last_models 0)
    assert sorted(os.listdir(os.path.join(root, "training_state"))) == [f"{kept - 1}.state", f"{kept}.state"]
    assert sorted(os.listdir(os.path.join(root, "models"))) == sorted(
        f"{it}_{net}.pth" for it in range(1, kept + 1) for net in ("G", "D"))


def test_dry_run_checks_everything_and_writes_nothing(trained, capsys):
    result = run_train("-opt", trained.path, "--dry_run", "--set", "name=dry", capsys=capsys)
    assert result.returncode == 0, result.stderr
    assert "dry run OK" in result.stdout and "network D: NLayerDiscriminator" in result.stdout
    assert "training set train: 12 pairs; validation set: val, 2 pairs" in result.stdout
    assert not os.path.exists(os.path.join(trained.opt["path"]["experiments_root"], "dry"))


def test_launcher_pytorch_outside_torchrun_is_a_one_line_error(trained, capsys, monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    result = run_train("-opt", trained.path, "--launcher", "pytorch", "--set", "name=nolaunch", capsys=capsys)
    assert_one_line_error(result, "--launcher pytorch", "torchrun", code=2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_is_a_one_line_error(trained, capsys):
    result = run_train("-opt", trained.path, "--set", "name=nocuda", "device=cuda", capsys=capsys)
    assert_one_line_error(result, "device: cuda", code=2)


def test_several_validation_sets_and_best_g_chosen_by_a_metric_of_one_of_them(trained, data, tmp_path, capsys):
    """val and val_2 are both validated; best_G follows the lowest SSIM on val_2 (an odd choice, so the test can
    tell it from the default highest PSNR on val); best.json and TensorBoard say which."""
    opt = dict(trained.opt, name="twosets", use_tb_logger=True,
               path=dict(trained.opt["path"], experiments_root=str(tmp_path / "experiments"),
                         tb_logger_root=str(tmp_path / "tb")),
               datasets=dict(trained.opt["datasets"], val_2={"name": "second", "mode": "LQGT",
                                                             "dataroot_GT": data["train_hr"],
                                                             "dataroot_LQ": data["train_lr"]}),
               val={"metrics": ["psnr", "ssim"], "best_metric": "ssim", "best_mode": "min", "best_dataset": "val_2"})
    path = write_options(str(tmp_path / "two.yml"), opt)
    assert run_train("-opt", path, "--set", "train.niter=6", "train.val_freq=2", capsys=capsys).returncode == 0
    log = train_log(opt)
    second = {int(it): float(ssim) for it, ssim in
              re.findall(r"# validation # iter (\d+): psnr: [\d.]+ ssim: ([\d.]+) \[val_2\]", log)}
    assert set(second) == {2, 4, 6} and len(re.findall(r"\[val\]", log)) == 3
    assert "psnr_y" not in log.split("# validation #")[1].splitlines()[0]  # only the chosen metrics
    worst = min(second, key=second.get)
    with open(os.path.join(experiment_dir(opt), "best.json")) as handle:
        best = json.load(handle)
    assert best == {"metric": "ssim", "mode": "min", "dataset": "val_2", "value": pytest.approx(second[worst], abs=1e-4),
                    "iteration": worst, "checkpoint": os.path.join("models", "best_G.pth")}
    expected = read_weights(opt, worst) if worst in (3, 6) else None
    if expected is not None:
        saved, _ = read_checkpoint(os.path.join(experiment_dir(opt), "models", "best_G.pth"))
        assert all(torch.equal(saved[k], expected[k]) for k in expected)
    images = os.listdir(os.path.join(experiment_dir(opt), "val_images"))
    assert "val_2" in images and "img000" in images  # first set in the official layout, others by key
    events = EventAccumulator(os.path.join(str(tmp_path / "tb"), "twosets"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"val/psnr", "val_2/ssim", "val_2/best_ssim"} <= set(tags) and "val/psnr_y" not in tags


@pytest.mark.parametrize("val, fragment", [
    ({"metrics": ["psnr"], "best_metric": "ssim"}, "val.best_metric: ssim is not among val.metrics"),
    ({"best_dataset": "val_9"}, "val.best_dataset: val_9 is not a validation set"),
])
def test_best_metric_options_are_checked(trained, tmp_path, capsys, val, fragment):
    opt = dict(trained.opt, name="badval", val=val)
    result = run_train("-opt", write_options(str(tmp_path / "v.yml"), opt), capsys=capsys)
    assert_one_line_error(result, fragment, code=2)
