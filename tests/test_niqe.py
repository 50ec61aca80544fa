"""NIQE without ground truth: MATLAB's value on a documented image, the pieces, and the metrics files."""
import csv
import json
import os

import numpy as np
import pytest
import torch
from scipy.special import gamma
from skimage import data

from conftest import REPO
from rwsr.archs import build_generator
from rwsr.inference import SRInference, super_resolve_folder
from rwsr.metrics.niqe import _gamma_table, _nearest_ratio_index, aggd_fit, gaussian_window, niqe, niqe_of_image
from rwsr.utils import color
from rwsr.utils.image_io import read_image, write_image

# MATLAB R2021a's niqe of BasicSR's test image baboon.png, as documented by BasicSR (tests/data/README.md)
MATLAB_BABOON = 5.72957338


def test_matches_matlab_on_the_documented_image():
    img = read_image(os.path.join(REPO, "tests", "data", "niqe_baboon.png"))
    assert abs(niqe_of_image(img) - MATLAB_BABOON) < 1e-3


def test_nearest_grid_index_is_matlabs_min_over_the_grid():
    grid, ratio = _gamma_table()
    assert np.all(np.diff(ratio) > 0)  # the bisection relies on it
    values = np.concatenate([np.random.default_rng(0).uniform(0.0, 0.8, 2000), ratio[[0, 17, 9800]],
                             [(ratio[5] + ratio[6]) / 2, np.nan]])
    brute = np.argmin((ratio[None, :] - values[:, None]) ** 2, axis=1)  # numpy's argmin: first of equals
    np.testing.assert_array_equal(_nearest_ratio_index(values), brute)
    assert grid[0] == 0.2 and abs(grid[-1] - 10.0) < 1e-12


def test_aggd_fit_recovers_a_generalised_gaussian():
    """Samples of a symmetric generalised Gaussian with shape 2 (a normal) and scale sqrt(2) sigma."""
    samples = np.random.default_rng(1).normal(0.0, 1.5, size=(1, 200_000))
    alpha, left, right = aggd_fit(samples)
    assert abs(alpha[0] - 2.0) < 0.03
    expected_beta = 1.5 * np.sqrt(gamma(1 / 2.0) / gamma(3 / 2.0))  # = sqrt(2) * 1.5
    assert abs(left[0] - expected_beta) < 0.02 and abs(right[0] - expected_beta) < 0.02


def test_window_is_matlabs_fspecial():
    window = gaussian_window()
    assert window.shape == (7, 7) and abs(window.sum() - 1) < 1e-12
    assert abs(window[3, 3] / window[3, 4] - np.exp(1 / (2 * (7 / 6) ** 2))) < 1e-12


def test_y_channel_border_crop_and_small_images():
    img = data.astronaut()[:300, :300]
    y = np.floor(color.rgb_to_y(img, 255.0) + 0.5)  # MATLAB's rgb2ycbcr on uint8: rounded
    assert niqe_of_image(img) == pytest.approx(niqe(y))
    assert niqe_of_image(img, crop_border=4) == pytest.approx(niqe(y[4:-4, 4:-4]))
    assert niqe_of_image(img, crop_border=4) != niqe_of_image(img)
    blurred = np.repeat(np.repeat(img[::4, ::4], 4, axis=0), 4, axis=1)
    assert niqe_of_image(blurred) > niqe_of_image(img) + 1  # a degraded photo scores worse
    with pytest.raises(ValueError, match="two 96x96 blocks"):
        niqe(np.zeros((100, 150)))
    with pytest.raises(ValueError, match="texture"):
        niqe(np.full((200, 200), 128.0))


def test_folder_without_gt_reports_niqe_per_image(tmp_path):
    torch.manual_seed(0)
    net = build_generator({"which_model_G": "RRDBNet", "in_nc": 3, "out_nc": 3, "nf": 8, "nb": 1, "gc": 8,
                           "upscale": 4, "global_residual": True}).eval()  # near bicubic: natural texture
    write_image(str(tmp_path / "in" / "coffee.png"), data.coffee()[100:156, 200:256])
    write_image(str(tmp_path / "in" / "tiny.png"), data.coffee()[:8, :8])
    result = super_resolve_folder(SRInference(net, 4), str(tmp_path / "in"), str(tmp_path / "out"), progress=False)
    expected = niqe_of_image(read_image(str(tmp_path / "out" / "coffee.png")), crop_border=4)
    rows = {row["image"]: row for row in csv.DictReader(open(tmp_path / "out" / "metrics.csv"))}
    assert list(rows["coffee"]) == ["image", "niqe", "seconds"]
    assert float(rows["coffee"]["niqe"]) == pytest.approx(expected, abs=1e-6)
    assert rows["tiny"]["niqe"] == "" and float(rows["mean"]["niqe"]) == pytest.approx(expected, abs=1e-6)
    document = json.load(open(tmp_path / "out" / "metrics.json"))
    assert document["images"][0]["niqe"] == pytest.approx(expected) and "Y channel" in document["niqe"]
    assert [record["image"] for record in result.records] == ["coffee", "tiny"]
