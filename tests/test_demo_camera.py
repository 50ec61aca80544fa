"""The demo's camera domain (rwsr.demo.camera) built from scikit-image photos."""
import json
import os

import numpy as np
import pytest

from rwsr.demo.camera import (TARGET_PHOTOS, CameraModel, build_camera_domain, linear_to_srgb, load_photo, photo_rng,
                              srgb_to_linear)
from rwsr.prep.noise_estimation import estimate_noise_sigma
from rwsr.utils.image_io import list_images, read_image
from rwsr.utils.imresize import imresize_uint8

SMALL = {"source": ("coffee",), "target": ("camera",), "test": ("chelsea",)}


def _files(root):
    return {os.path.relpath(p, root): open(p, "rb").read() for p in list_images(root, recursive=True)}


def test_default_domain_layout_and_contents(tmp_path):
    paths = build_camera_domain(str(tmp_path / "demo"), seed=0)
    root = str(tmp_path / "demo")
    assert paths == {"root": root, "source": os.path.join(root, "source"), "target": os.path.join(root, "target"),
                     "test_LR": os.path.join(root, "test_LR"), "test_HR": os.path.join(root, "test_HR"),
                     "info": os.path.join(root, "camera.json")}
    names = {kind: sorted(os.path.basename(p) for p in list_images(paths[kind])) for kind in
             ("source", "target", "test_LR", "test_HR")}
    assert names["source"] == ["coffee.png", "motorcycle_right.png", "rocket.png"]
    assert names["target"] == sorted(f"{name}.png" for name in TARGET_PHOTOS)
    assert len(names["source"]) + len(names["target"]) >= 8  # one batch of the demo configs
    assert names["test_LR"] == names["test_HR"] == ["astronaut.png", "chelsea.png"]
    # targets are the photos untouched; test HR is chelsea 300x451 cropped to a multiple of 4
    np.testing.assert_array_equal(read_image(os.path.join(paths["target"], "coins.png")), load_photo("coins"))
    assert read_image(os.path.join(paths["test_HR"], "chelsea.png")).shape == (300, 448, 3)
    assert read_image(os.path.join(paths["test_LR"], "chelsea.png")).shape == (75, 112, 3)
    info = json.load(open(paths["info"], encoding="utf-8"))
    assert info["seed"] == 0 and info["scale"] == 4 and info["camera"]["jpeg_quality"] == 80


def test_same_seed_same_bytes_other_seed_other_noise(tmp_path):
    first = build_camera_domain(str(tmp_path / "a"), seed=3, **SMALL)
    again = build_camera_domain(str(tmp_path / "b"), seed=3, **SMALL)
    other = build_camera_domain(str(tmp_path / "c"), seed=4, **SMALL)
    files = [_files(p["root"]) for p in (first, again, other)]
    assert files[0] == files[1]
    assert files[0]["source/coffee.png"] != files[2]["source/coffee.png"]
    assert files[0]["target/camera.png"] == files[2]["target/camera.png"]


def test_test_lr_is_the_degraded_bicubic_of_the_clean_hr(tmp_path):
    paths = build_camera_domain(str(tmp_path), seed=0, **SMALL)
    hr = read_image(os.path.join(paths["test_HR"], "chelsea.png"))
    lr = read_image(os.path.join(paths["test_LR"], "chelsea.png"))
    expected = CameraModel().degrade(imresize_uint8(hr, 0.25), photo_rng(0, "test_LR/chelsea"))
    np.testing.assert_array_equal(lr, expected)
    # degraded, yet still the same picture
    difference = lr.astype(np.float64) - imresize_uint8(hr, 0.25)
    assert 2.0 < difference.std() < 12.0


def test_noise_level_grows_with_the_sensor_parameters():
    img = load_photo("rocket")[:256, :256]
    levels = [estimate_noise_sigma(CameraModel(shot_gain=a, read_variance=b).degrade(img, photo_rng(0, "x")))
              for a, b in ((0.0, 0.0), (0.002, 5e-5), (0.004, 1e-4), (0.008, 2e-4))]
    assert levels == sorted(levels) and levels[-1] > 3 * levels[0], levels


def test_shot_noise_is_signal_dependent_in_linear_light():
    camera = CameraModel(blur_sigma=0.0, shot_gain=0.01, read_variance=1e-4, jpeg_quality=100)
    for value in (0.1, 0.6):
        flat = np.full((200, 200, 3), np.rint(linear_to_srgb(value) * 255), np.uint8)
        linear_clean = srgb_to_linear(flat[0, 0, 0] / 255.0)
        linear = srgb_to_linear(camera.degrade(flat, photo_rng(1, str(value))) / 255.0)
        expected = np.sqrt(0.01 * linear_clean + 1e-4)
        assert linear.std() == pytest.approx(expected, rel=0.05)


def test_srgb_curves_invert_each_other():
    x = np.linspace(0.0, 1.0, 1001)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12)
    assert srgb_to_linear(0.5) == pytest.approx(0.2140, abs=1e-4)  # IEC 61966-2-1


def test_held_out_photos_may_not_be_trained_on(tmp_path):
    with pytest.raises(Exception, match="held-out"):
        build_camera_domain(str(tmp_path), source=("chelsea",), target=(), test=("chelsea",))
