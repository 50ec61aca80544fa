"""Conventions that are silent when wrong: RGB channel order on disk, BT.601 luma everywhere it is
used, and atomic writes that leave the old file or the new one when a crash hits between write and
rename."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import CODES
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import decode_image, encode_image, read_image, read_image_uint8, write_image

RED, GREEN, BLUE = (200, 10, 30), (5, 180, 40), (20, 30, 220)


def primaries():
    img = np.zeros((4, 6, 3), dtype=np.uint8)
    img[:, :2], img[:, 2:4], img[:, 4:] = RED, GREEN, BLUE
    return img


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_written_images_are_rgb_for_other_readers(tmp_path, ext):
    path = str(tmp_path / f"colors{ext}")
    write_image(path, primaries())
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), primaries())


def test_images_from_other_writers_are_read_as_rgb(tmp_path):
    path = str(tmp_path / "pil.png")
    Image.fromarray(primaries()).save(path)
    assert np.array_equal(read_image_uint8(path), primaries())
    assert np.array_equal(read_image(path), primaries())
    assert np.array_equal(decode_image(encode_image(primaries(), ".png")), primaries())


def test_psnr_y_uses_studio_range_bt601_luma():
    from rwsr.metrics import calculate_psnr
    flat = np.zeros((8, 8, 3), dtype=np.uint8)
    for channel, weight in enumerate((65.481, 128.553, 24.966)):
        shifted = flat.copy()
        shifted[..., channel] = 10
        # one channel off by 10 moves Y by 10 * weight / 255: PSNR_Y = 10 log10(255^2 / dY^2)
        expected = 10 * np.log10(255.0 ** 2 / (10 * weight / 255.0) ** 2)
        assert calculate_psnr(shifted, flat, test_y_channel=True) == pytest.approx(expected, rel=1e-12)


def test_y_datasets_and_metrics_share_one_luma(tmp_path):
    from rwsr.data.transforms import rgb_to_y as dataset_luma
    from rwsr.metrics import rgb_to_y as metric_luma
    img = primaries()
    assert np.allclose(dataset_luma(img / 255.0)[..., 0] * 255.0, metric_luma(img), atol=1e-4)
    assert metric_luma(np.full((1, 1, 3), 255.0))[0, 0] == pytest.approx(235.0)
    assert metric_luma(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16.0)


# ---------------------------------------------------------------- atomic writes
def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    from rwsr.utils import fs
    path = tmp_path / "weights.pth"
    path.write_bytes(b"old")

    def no_rename(src, dst):
        raise OSError("disk went away")
    monkeypatch.setattr(fs.os, "replace", no_rename)
    with pytest.raises(OSError):
        fs.atomic_write_bytes(str(path), b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["weights.pth"]


def test_a_failure_while_writing_keeps_the_old_file(tmp_path):
    from rwsr.utils import fs
    path = tmp_path / "state"
    path.write_bytes(b"old")

    def half_write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"ne")
        raise RuntimeError("killed mid-write")
    with pytest.raises(RuntimeError):
        fs.atomic_write(str(path), half_write)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["state"]


CRASH_BETWEEN_WRITE_AND_RENAME = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
import torch
from rwsr.engine.checkpoints import CheckpointWriter
from rwsr.utils import fs

opt = {"network_G": {"which_model_G": "RRDBNet", "nf": 4}, "scale": 4,
       "logger": {"keep_last": 0, "save_format": "pth"}}
writer = CheckpointWriter({"models": sys.argv[2] + "/models", "training_state": sys.argv[2] + "/training_state"}, opt)
net = torch.nn.Conv2d(1, 1, 1)
writer.save(4, {"G": net}, {"epoch": 0})
with torch.no_grad():
    net.weight.add_(1.0)
real_replace = os.replace

def die_before_renaming_the_state(src, dst):
    if dst.endswith(".state"):
        os._exit(3)  # the process dies: no cleanup, no exception handlers
    real_replace(src, dst)
fs.os.replace = die_before_renaming_the_state
writer.save(8, {"G": net}, {"epoch": 1})
"""


def test_a_process_dying_between_write_and_rename_resumes_from_the_previous_checkpoint(tmp_path):
    from rwsr.engine.checkpoints import find_latest_bundle, list_state_iterations
    from rwsr.utils.logger import get_logger
    result = subprocess.run([sys.executable, "-c", CRASH_BETWEEN_WRITE_AND_RENAME, CODES, str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    state_dir = tmp_path / "training_state"
    leftovers = [name for name in os.listdir(state_dir) if name.startswith(".tmp_")]
    assert len(leftovers) == 1  # the written but unrenamed state
    assert list_state_iterations(str(state_dir)) == [4]
    assert (tmp_path / "models" / "8_G.pth").exists()  # networks are written before the state
    bundle = find_latest_bundle(str(state_dir), get_logger())
    assert bundle["state"]["iteration"] == 4 and bundle["state"]["epoch"] == 0
    weight = bundle["networks"]["G"]["weight"]
    assert torch.equal(weight, torch.load(tmp_path / "models" / "4_G.pth", weights_only=True)["weight"])
    assert not torch.equal(weight, torch.load(tmp_path / "models" / "8_G.pth", weights_only=True)["weight"])


def test_a_state_whose_network_file_is_missing_is_skipped(tmp_path):
    from rwsr.engine.checkpoints import CheckpointWriter, find_latest_bundle
    from arch_helpers import captured_project_log
    from rwsr.utils.logger import get_logger
    opt = {"network_G": {}, "scale": 4, "logger": {"keep_last": 0, "save_format": "pth"}}
    writer = CheckpointWriter({"models": str(tmp_path / "models"), "training_state": str(tmp_path / "state")}, opt)
    net = torch.nn.Conv2d(1, 1, 1)
    writer.save(2, {"G": net}, {"epoch": 0})
    writer.save(4, {"G": net}, {"epoch": 0})
    os.remove(tmp_path / "models" / "4_G.pth")
    with captured_project_log() as log:
        bundle = find_latest_bundle(str(tmp_path / "state"), get_logger())
    assert bundle["state"]["iteration"] == 2
    assert "skipping checkpoint of iteration 4" in log.text()
    with pytest.raises(RwsrError, match="4_G.pth"):
        from rwsr.engine.checkpoints import read_bundle
        read_bundle(str(tmp_path / "state" / "4.state"))
