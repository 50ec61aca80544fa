"""`make ablation`: option files, skip/resume of rows, timing, table and figure, sharpness."""
import json
import os
import shutil

import numpy as np
import pytest

from rwsr.demo import ablation
from rwsr.demo.ablation_report import format_table, training_timing
from rwsr.demo.run_records import DONE, NEW, PARTIAL, record_status, write_record
from rwsr.demo.train_progress import TrainingBar, parse_train_line
from rwsr.engine.log import log_line
from rwsr.metrics.sharpness import mean_gradient_energy
from rwsr.options import load_options
from rwsr.options.loader import read_yaml
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import read_image, write_image

# What each arm changes; every other key of the seven files is the same.
ARM_KEYS_THAT_DIFFER = {
    "esrgan": {"model": "srgan", "which_model_G": "RRDB", "align_weight": 0, "exclusion_weight": 0},
    "edl_srgan": {"model": "srgan", "which_model_G": "RRDBNet", "align_weight": 0, "exclusion_weight": 0},
    "edl_srgan_align": {"model": "srgan", "which_model_G": "RRDBNet", "align_weight": 0.01, "exclusion_weight": 0},
    "edl_srgan_al": {"model": "srgan_al", "which_model_G": "RRDBNet", "align_weight": 0.01, "exclusion_weight": 0},
    "edl_srgan_an": {"model": "srgan_an", "which_model_G": "RRDBNet", "align_weight": 0.01, "exclusion_weight": 0},
    "edl_srgan_r": {"model": "srgan_r", "which_model_G": "RRDBNet", "align_weight": 0, "exclusion_weight": 0},
    "edl_exclusion": {"model": "srgan", "which_model_G": "RRDBNet", "align_weight": 0, "exclusion_weight": 0.01},
}


def _arm_path(repo_root, key):
    return os.path.join(repo_root, "options", "ablation", f"{key}.yml")


def _without_arm_keys(raw):
    raw = json.loads(json.dumps(raw))
    for key in ("name", "model"):
        raw.pop(key)
    raw["network_G"].pop("which_model_G")
    raw["train"].pop("align_weight")
    raw["train"].pop("exclusion_weight")
    return raw


def test_the_seven_arms_validate_and_differ_only_in_the_intended_keys(repo_root):
    assert tuple(ARM_KEYS_THAT_DIFFER) == ablation.ARM_KEYS
    shared = None
    for key, expected in ARM_KEYS_THAT_DIFFER.items():
        opt = load_options(_arm_path(repo_root, key))
        assert opt["name"] == f"ablation_{key}"
        got = {"model": opt["model"], "which_model_G": opt["network_G"]["which_model_G"],
               "align_weight": opt["train"]["align_weight"], "exclusion_weight": opt["train"]["exclusion_weight"]}
        assert got == expected
        assert opt["train"]["gan_type"] == "ragan" and opt["network_G"]["global_residual"] is True
        if opt["model"] != "srgan":
            assert opt["train"]["cr_weight"] == 1e-3  # the official value
        rest = _without_arm_keys(read_yaml(_arm_path(repo_root, key)))
        shared = shared or rest
        assert rest == shared, key
    assert os.path.normpath(shared["path"]["pretrain_model_G"]) == ablation.START_MODEL


def test_start_model_is_a_plain_rrdb_with_the_arms_trunk(repo_root):
    from rwsr.archs.network_files import infer_generator_options, read_checkpoint
    pretrain = load_options(os.path.join(repo_root, ablation.PRETRAIN_OPTIONS))
    arm = load_options(_arm_path(repo_root, "edl_srgan"))
    for key in ("nf", "nb", "gc", "global_residual"):
        assert pretrain["network_G"][key] == arm["network_G"][key]
    assert pretrain["network_G"]["which_model_G"] == "RRDB" and pretrain["model"] == "sr"
    path = os.path.join(repo_root, ablation.START_MODEL)
    if not os.path.exists(path):
        pytest.skip("start model not trained yet (make ablation-pretrain)")
    state, metadata = read_checkpoint(path)
    inferred = infer_generator_options(state, metadata)
    assert inferred["which_model_G"] == "RRDB" and inferred["global_residual"] is True
    assert inferred["nf"] == arm["network_G"]["nf"] and inferred["nb"] == arm["network_G"]["nb"]


def test_mean_gradient_energy_by_hand():
    # Gray RGB 0/255 checkerboard: luma 16 / 235 (BT.601), every difference is +-219,
    # so each pixel of the 1x2 grid has dx^2 + dy^2 = 2 * 219^2.
    img = np.repeat(np.array([[0, 255, 0], [255, 0, 255]], dtype=np.uint8)[:, :, None], 3, axis=2)
    assert mean_gradient_energy(img) == pytest.approx(2 * 219.0 ** 2)
    ramp = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6]], dtype=np.float64)  # dx = 1, dy = 2: energy 5
    assert mean_gradient_energy(ramp) == pytest.approx(5.0)
    assert mean_gradient_energy(np.full((4, 4, 3), 77, np.uint8)) == 0.0
    with pytest.raises(ValueError, match="at least 2x2"):
        mean_gradient_energy(np.zeros((1, 5)))


def _train_lines(start, end, step, seconds, stamp="26-01-01 10:00:{:02d}"):
    return [stamp.format(i % 60) + " INFO: " + log_line(1, it, 1e-4, {"l_g_total": 0.5}, seconds, 0.01, 10)
            for i, it in enumerate(range(start + step, end + 1, step))]


def test_progress_bar_follows_logged_iterations_and_resumes():
    assert parse_train_line(_train_lines(0, 5, 5, 0.75)[0]) == (5, 0.75)
    assert parse_train_line("26-01-01 10:00:00 INFO: # validation # iter 5: psnr: 20") is None
    bar = TrainingBar("test", 30)
    try:
        for line in _train_lines(0, 15, 5, 1.5):
            bar(line)
        assert bar.bar.n == 15 and bar.iteration_times == [1.5, 1.5, 1.5]
        bar("26-01-01 10:00:00 INFO: training from epoch 3, iteration 20 to 30 (1 iterations per epoch, 8 ...)")
        assert bar.bar.n == 20 and bar.bar.total == 30
    finally:
        bar.close()


def test_training_timing_over_resumed_sessions(tmp_path):
    log = tmp_path / "train.log"
    first = ["26-01-01 10:00:00 INFO: random seed 0; device cpu; 1 process(es)"] + _train_lines(0, 10, 5, 9.0)
    first[-1] = first[-1].replace("26-01-01 10:00:01", "26-01-01 10:01:40")  # session 1: 100 s
    second = ["26-01-01 11:00:00 INFO: random seed 0; device cpu; 1 process(es)",
              "26-01-01 11:00:30 INFO: " + log_line(1, 15, 1e-4, {"l": 1.0}, 1.0, 0.0, 0),
              "26-01-01 11:00:50 INFO: " + log_line(1, 20, 1e-4, {"l": 1.0}, 2.0, 0.0, 0)]  # session 2: 50 s
    log.write_text("\n".join(first + second) + "\n")
    timing = training_timing(str(log))
    assert timing == {"seconds_per_iteration": pytest.approx(5.5), "train_seconds": 150.0}  # median of 9, 9, 1, 2


def test_table_shows_n_a_for_missing_values():
    table = format_table([("bicubic", "MATLAB bicubic x4", {"psnr": 25.5, "ssim": 0.66, "lpips": None,
                                                            "gradient_energy": 12.34}),
                          ("esrgan", "plain", {"psnr": 25.0, "ssim": 0.7, "lpips": 0.25, "gradient_energy": 50.0,
                                               "seconds_per_iteration": 1.234})])
    lines = table.splitlines()
    assert lines[0] == "| method | what | PSNR (dB) | SSIM | LPIPS | gradient energy | s / iteration |"
    assert lines[2] == "| bicubic | MATLAB bicubic x4 | 25.50 | 0.6600 | n/a | 12.3 | n/a |"
    assert lines[3] == "| esrgan | plain | 25.00 | 0.7000 | 0.2500 | 50.0 | 1.23 |"


def test_run_records_skip_resume_and_refuse(tmp_path):
    folder = str(tmp_path / "arm")
    settings = {"options": "a.yml", "overrides": ["train.niter=10"]}
    assert record_status(folder, settings) == NEW
    write_record(folder, settings)
    assert record_status(folder, settings) == PARTIAL
    write_record(folder, settings, {"psnr": 20.0})
    assert record_status(folder, settings) == DONE
    other = dict(settings, overrides=["train.niter=20"])
    with pytest.raises(RwsrError, match=r"made with overrides=\['train.niter=10'\], now .*--overwrite"):
        record_status(folder, other)
    assert record_status(folder, other, overwrite=True) == NEW
    assert not os.path.exists(folder) and len(list(tmp_path.glob("arm_archived_*"))) == 1  # kept, renamed
    os.makedirs(folder)
    with pytest.raises(RwsrError, match="not made by this script"):
        record_status(folder, settings)
    (tmp_path / "arm" / "run.json").write_text("{broken")
    with pytest.raises(RwsrError, match="unreadable run record"):
        record_status(folder, settings)


# ---------------------------------------------------------------- the driver on a fake repository
def _fake_repo(tmp_path, repo_root, monkeypatch):
    """options/ablation copied, two held-out images, train.py and test.py replaced by fakes that record calls."""
    shutil.copytree(os.path.join(repo_root, "options", "ablation"), tmp_path / "options" / "ablation",
                    ignore=shutil.ignore_patterns("*.safetensors"))
    (tmp_path / ablation.START_MODEL).write_bytes(b"weights")
    rng = np.random.default_rng(0)
    for name, size in (("a", 32), ("b", 24)):
        write_image(str(tmp_path / "hr" / f"{name}.png"), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        write_image(str(tmp_path / "lr" / f"{name}.png"), rng.integers(0, 256, (size // 4, size // 4, 3),
                                                                     dtype=np.uint8))
    calls = {"train": [], "test": []}

    def fake_train(title, total, options_path, *overrides, auto_resume=False):
        opt = load_options(str(tmp_path / options_path), list(overrides))
        experiment = tmp_path / "experiments" / opt["name"]
        (experiment / "models").mkdir(parents=True, exist_ok=True)
        (experiment / "models" / f"{opt['train']['niter']}_G.pth").write_bytes(b"G")
        lines = ["26-01-01 10:00:00 INFO: random seed 0; device cpu; 1 process(es)"] + _train_lines(0, total, 5, 0.5)
        with open(experiment / "train.log", "a") as handle:
            handle.write("\n".join(lines) + "\n")
        calls["train"].append((title, auto_resume))

    def fake_test(model_path, output_dir, lr_dir, hr_dir, quiet=False):
        for name in ("a", "b"):
            write_image(os.path.join(output_dir, f"{name}.png"), read_image(str(tmp_path / "hr" / f"{name}.png")))
        with open(os.path.join(output_dir, "metrics.json"), "w") as handle:
            json.dump({"mean": {"psnr": 30.0, "ssim": 0.9, "psnr_y": 31.0, "ssim_y": 0.91, "lpips": None}}, handle)
        calls["test"].append(os.path.basename(model_path))

    monkeypatch.setattr(ablation, "REPO", str(tmp_path))
    monkeypatch.setattr(ablation, "train_with_bar", fake_train)
    monkeypatch.setattr(ablation, "test_model", fake_test)
    settings = ablation.AblationSettings(iters=10, test_lr=str(tmp_path / "lr"), test_hr=str(tmp_path / "hr"),
                                         arms=("esrgan", "edl_srgan"))
    return settings, calls


def test_arm_is_trained_once_skipped_when_done_and_resumed_when_unfinished(tmp_path, repo_root, monkeypatch):
    settings, calls = _fake_repo(tmp_path, repo_root, monkeypatch)
    runner = ablation.Ablation(settings)
    arm = ablation.ARMS[0]
    folder = runner.arm_row(arm)
    assert calls == {"train": [("esrgan", False)], "test": ["10_G.pth"]}
    result = json.load(open(os.path.join(folder, "run.json")))["result"]
    assert result["psnr"] == 30.0 and result["iterations"] == 10 and result["seconds_per_iteration"] == 0.5
    assert result["gradient_energy"] > 0

    runner.arm_row(arm)  # finished with the same settings: nothing runs again
    assert len(calls["train"]) == 1 and len(calls["test"]) == 1

    write_record(folder, json.load(open(os.path.join(folder, "run.json")))["settings"])  # as if killed in test
    runner.arm_row(arm)  # the checkpoint of the last iteration exists: test only
    assert len(calls["train"]) == 1 and len(calls["test"]) == 2
    os.remove(tmp_path / "experiments" / "ablation_esrgan" / "models" / "10_G.pth")
    write_record(folder, json.load(open(os.path.join(folder, "run.json")))["settings"])  # killed in training
    runner.arm_row(arm)
    assert calls["train"][-1] == ("esrgan", True)  # --auto_resume

    with pytest.raises(RwsrError, match="--overwrite"):  # another budget never replaces results silently
        ablation.Ablation(ablation.AblationSettings(iters=20, test_lr=settings.test_lr,
                                                    test_hr=settings.test_hr)).arm_row(arm)


def test_driver_writes_table_and_figure(tmp_path, repo_root, monkeypatch):
    settings, calls = _fake_repo(tmp_path, repo_root, monkeypatch)
    runner = ablation.Ablation(settings)
    rows = [("start model", "plain RRDB PSNR model", runner.start_model_row())]
    rows += [(arm.key, arm.description, runner.arm_row(arm)) for arm in ablation.ARMS[:2]]
    text = ablation.write_outputs(settings, rows)
    assert (tmp_path / ablation.REPORT).read_text() == text
    assert "| esrgan | plain RRDB" in text and "| edl_srgan |" in text and "n/a" in text
    assert "Every arm: 10 iterations, batch 8" in text and "LPIPS (AlexNet) is n/a" in text
    assert "training took 0.0 min summed over the 2 arms" in text and "esrgan 0.50, edl_srgan 0.50" in text
    assert read_image(str(tmp_path / ablation.FIGURE)).shape[2] == 3
    summary = json.load(open(tmp_path / ablation.RESULTS_ROOT / "summary.json"))
    assert [row["method"] for row in summary["rows"]] == ["start model", "esrgan", "edl_srgan"]
    assert calls["test"] == ["rrdb_psnr_x4.safetensors", "10_G.pth", "10_G.pth"]


def test_bad_settings_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(ablation, "REPO", str(tmp_path))
    with pytest.raises(RwsrError, match="--arms nope: unknown arm"):
        ablation.check_settings(ablation.AblationSettings(arms=("nope",)))
    with pytest.raises(RwsrError, match="--test_lr and --test_hr go together"):
        ablation.check_settings(ablation.AblationSettings(test_lr=str(tmp_path)))
    with pytest.raises(RwsrError, match="start checkpoint not found; run `make ablation-pretrain`"):
        ablation.check_settings(ablation.AblationSettings())
    with pytest.raises(RwsrError, match="--iters 0"):
        ablation.budget_overrides(0)
    assert ablation.budget_overrides(20000) == ("train.niter=20000", "logger.print_freq=200",
                                                "logger.save_checkpoint_freq=2500")
