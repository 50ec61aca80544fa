import json
import os

import pytest

from rwsr.demo import pipeline, scripts
from rwsr.demo.evaluation import bicubic_baseline, format_comparison
from rwsr.demo.figures import plot_comparison, plot_curves, read_training_log
from rwsr.engine.log import log_line
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import read_image, write_image


def _write_log(path):
    lines = [
        "26-11-28 14:27:42 INFO: training set train: 14 pairs",
        "26-11-28 14:28:54 INFO: " + log_line(1, 20, 1e-4, {"l_g_pix": 0.05, "l_g_gan": 0.01}, 0.5, 0.01, 100),
        "26-11-28 14:28:55 INFO: # validation # iter 20: psnr: 23.3853 ssim: 0.5991 psnr_y: 25.1 ssim_y: 0.6 lpips: unavailable",
        "26-11-28 14:29:54 INFO: " + log_line(2, 1040, 5e-5, {"l_g_pix": 0.04, "l_g_gan": 0.02}, 0.5, 0.01, 0),
        "26-11-28 14:29:55 INFO: # validation # iter 1040: psnr: 24.5 ssim: 0.61 psnr_y: 26.0 ssim_y: 0.7 lpips: 0.3",
    ]
    path.write_text("\n".join(lines) + "\n")


def test_training_log_is_parsed_from_the_engine_format(tmp_path):
    log = tmp_path / "train.log"
    _write_log(log)
    losses, val_psnr = read_training_log(str(log))
    assert losses == {"l_g_pix": [(20, 0.05), (1040, 0.04)], "l_g_gan": [(20, 0.01), (1040, 0.02)]}
    assert val_psnr == [(20, 23.3853), (1040, 24.5)]
    plot_curves(str(log), str(tmp_path / "curves.png"), bicubic_psnr=23.0)
    assert read_image(str(tmp_path / "curves.png")).shape[2] == 3


def test_bicubic_baseline_and_comparison_figure(tmp_path):
    from skimage import data
    hr = data.astronaut()[:128, :96]
    lr = hr[::4, ::4].copy()
    for folder, img in (("hr", hr), ("lr", lr)):
        write_image(str(tmp_path / folder / "astro.png"), img)
    records = bicubic_baseline(str(tmp_path / "lr"), str(tmp_path / "hr"), str(tmp_path / "bic"), 4)
    assert len(records) == 1 and 15 < records[0]["psnr"] < 40
    saved = json.load(open(tmp_path / "bic" / "metrics.json"))
    assert saved["mean"]["psnr"] == pytest.approx(records[0]["psnr"])
    assert read_image(str(tmp_path / "bic" / "astro.png")).shape == hr.shape
    plot_comparison(str(tmp_path / "lr"), [("bicubic", str(tmp_path / "bic"))], str(tmp_path / "hr"),
                    str(tmp_path / "cmp.png"), 4, crop=64)
    assert os.path.getsize(tmp_path / "cmp.png") > 1000


def test_comparison_table():
    table = format_comparison({"bicubic": {"psnr": 24.0, "ssim": 0.5, "psnr_y": 25.5, "ssim_y": 0.6, "lpips": None}})
    assert table.splitlines()[2] == "| bicubic | 24.00 | 0.5000 | 25.50 | 0.6000 | n/a |"


def test_newest_generator_picks_highest_iteration(tmp_path):
    models = tmp_path / "demo_edl" / "models"
    models.mkdir(parents=True)
    for name in ("100_G.pth", "1000_G.safetensors", "best_G.pth", "1000_D.pth", "200_G.pth"):
        (models / name).write_bytes(b"x")
    assert scripts.newest_generator(str(tmp_path / "demo_edl")) == str(models / "1000_G.safetensors")
    with pytest.raises(RwsrError, match="no generator checkpoint"):
        scripts.newest_generator(str(tmp_path / "missing"))


def test_demo_needs_the_shipped_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "REPO", str(tmp_path))
    with pytest.raises(RwsrError, match="make demo-pretrain"):
        pipeline.run_demo()


def test_shipped_checkpoint_matches_the_demo_config(repo_root):
    from rwsr.archs.network_files import read_checkpoint
    from rwsr.options import load_options
    path = os.path.join(repo_root, pipeline.PRETRAINED_G)
    if not os.path.exists(path):
        pytest.skip("demo checkpoint not trained yet")
    state, metadata = read_checkpoint(path)
    opt = load_options(os.path.join(repo_root, pipeline.TRAIN_OPTIONS))
    assert os.path.normpath(opt["path"]["pretrain_model_G"]) == os.path.normpath(pipeline.PRETRAINED_G)
    assert state["conv_first.weight"].shape[0] == opt["network_G"]["nf"]
    assert os.path.getsize(path) < 16 * 2 ** 20
