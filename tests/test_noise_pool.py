"""Noise pool: every injected noise is a real window of a patch, zero-mean, at the pool's std."""
import os

import cv2
import numpy as np
import pytest
import torch

from rwsr.data.noise_pool import NoisePool, build_noise_pool
from rwsr.utils.errors import RwsrError

SIGMAS = (0.04, 0.05, 0.06)
SIZES = ((24, 24), (30, 20), (20, 40))


def _write(path, rgb):
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


def _gaussian_patch(rng, size, sigma, dtype=np.uint8):
    peak = 255 if dtype == np.uint8 else 65535
    values = rng.normal(0.5, sigma, size + (3,)) * peak
    return np.clip(np.rint(values), 0, peak).astype(dtype)


@pytest.fixture(scope="module")
def pool_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    for number, (size, sigma) in enumerate(zip(SIZES, SIGMAS)):
        _write(folder / f"patch_{number}.png", _gaussian_patch(rng, size, sigma))
    return folder


def _patches(folder):
    """The pool's patches as float32 RGB in [0, 1], read independently of the pool."""
    patches = []
    for name in sorted(os.listdir(folder)):
        img = cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        patches.append(img.astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0))
    return patches


def _window_sources(noise, patches):
    """For each injected (3, h, w) noise, the (patch, top, left) whose mean-free window equals it."""
    height, width = noise.shape[-2:]
    found = []
    for sample in noise.numpy():
        hits = []
        for number, patch in enumerate(patches):
            for top in range(patch.shape[0] - height + 1):
                for left in range(patch.shape[1] - width + 1):
                    window = patch[top:top + height, left:left + width].transpose(2, 0, 1)
                    window = window - window.mean(axis=(1, 2), keepdims=True)
                    if np.abs(window - sample).max() < 1e-5:
                        hits.append((number, top, left))
        found.append(hits)
    return found


def test_each_injected_noise_is_a_mean_free_window_of_a_patch(pool_dir):
    pool = NoisePool(str(pool_dir), "cpu", seed=3, crop_size=16)
    lr = torch.full((12, 3, 16, 16), 0.5)
    noise = pool.inject(lr) - lr
    assert noise.abs().max() < 0.45  # nothing was clamped
    assert noise.mean(dim=(2, 3)).abs().max() < 1e-6
    sources = _window_sources(noise, _patches(pool_dir))
    assert all(len(hits) == 1 for hits in sources), sources
    assert len({hits[0][0] for hits in sources}) > 1  # patches are drawn per sample
    assert len({hits[0] for hits in sources}) > len(sources) // 2  # windows vary too


def test_injected_noise_has_the_pools_standard_deviation(pool_dir):
    patches = _patches(pool_dir)
    pool_std = np.sqrt(np.mean([(p - p.mean(axis=(0, 1))).var() for p in patches]))
    pool = NoisePool(str(pool_dir), "cpu", seed=5)
    lr = torch.full((16, 3, 16, 16), 0.5)
    noise = torch.cat([pool.inject(lr) - lr for _ in range(40)])
    assert float(noise.std()) == pytest.approx(pool_std, rel=0.05)
    assert abs(float(noise.mean())) < 1e-6


def test_luma_noise_is_the_studio_range_luma_of_the_rgb_noise(pool_dir):
    """Training on Y (datasets' color: Y, BT.601 as MATLAB's rgb2ycbcr) must see the luma of the noise
    an RGB run would get: Y(LR + n) - Y(LR) = 65.481/255 n_R + 128.553/255 n_G + 24.966/255 n_B."""
    rgb_noise = NoisePool(str(pool_dir), "cpu", seed=7).inject(torch.full((6, 3, 12, 12), 0.5)) - 0.5
    luma_noise = NoisePool(str(pool_dir), "cpu", seed=7).inject(torch.full((6, 1, 12, 12), 0.5)) - 0.5
    weights = torch.tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1) / 255.0
    assert torch.allclose(luma_noise, (rgb_noise * weights).sum(dim=1, keepdim=True), atol=1e-6)


def test_luma_batches_get_luma_noise_and_values_stay_in_range(pool_dir):
    pool = NoisePool(str(pool_dir), "cpu", seed=1)
    luma = pool.inject(torch.full((4, 1, 12, 12), 0.5))
    assert luma.shape == (4, 1, 12, 12)
    assert (luma - 0.5).mean(dim=(2, 3)).abs().max() < 1e-6 and (luma - 0.5).abs().max() > 0.01
    bright = pool.inject(torch.ones(4, 3, 12, 12))
    dark = pool.inject(torch.zeros(4, 3, 12, 12))
    assert bright.max() == 1.0 and bright.min() < 1.0
    assert dark.min() == 0.0 and dark.max() > 0.0


def test_generator_is_seeded_and_its_state_restores(pool_dir, tmp_path):
    lr = torch.full((8, 3, 16, 16), 0.5)
    first = NoisePool(str(pool_dir), "cpu", seed=11)
    same = NoisePool(str(pool_dir), "cpu", seed=11)
    other = NoisePool(str(pool_dir), "cpu", seed=12)
    batch = first.inject(lr)
    assert torch.equal(batch, same.inject(lr))
    assert not torch.equal(batch, other.inject(lr))
    state = first.state_dict()
    assert state["generator"].dtype == torch.uint8
    torch.save(state, tmp_path / "pool.state")
    expected = [first.inject(lr) for _ in range(3)]
    resumed = NoisePool(str(pool_dir), "cpu", seed=0)
    resumed.load_state_dict(torch.load(tmp_path / "pool.state", weights_only=True))
    assert all(torch.equal(resumed.inject(lr), batch) for batch in expected)


def test_sixteen_bit_patches_keep_their_precision(tmp_path):
    rng = np.random.default_rng(4)
    _write(tmp_path / "a.png", _gaussian_patch(rng, (20, 20), 0.002, np.uint16))
    _write(tmp_path / "b.png", _gaussian_patch(rng, (18, 22), 0.05))
    pool = NoisePool(str(tmp_path), "cpu", seed=2)
    lr = torch.full((10, 3, 8, 8), 0.5)
    sources = _window_sources(pool.inject(lr) - lr, _patches(tmp_path))
    assert all(len(hits) >= 1 for hits in sources)
    assert {hits[0][0] for hits in sources} == {0, 1}


def test_patch_smaller_than_the_lr_crop_is_named(pool_dir):
    with pytest.raises(RwsrError, match=r"patch_1\.png: noise patch 30x20 is smaller than the LR crop 24x24 \(and 1"):
        NoisePool(str(pool_dir), "cpu", seed=0, crop_size=24)
    pool = NoisePool(str(pool_dir), "cpu", seed=0, crop_size=16)
    with pytest.raises(RwsrError, match=r"patch_2\.png: noise patch 20x40 is smaller than the LR crop 21x16;"):
        pool.inject(torch.zeros(2, 3, 21, 16))
    opt = {"aug": "noise", "noise_data": str(pool_dir), "GT_size": 128}
    with pytest.raises(RwsrError, match=r"patch_0\.png.*LR crop 32x32 \(and 2 more\)"):
        build_noise_pool(opt, 4, "cpu", 0, "train")


def test_empty_folder_and_phases_without_noise(tmp_path, pool_dir):
    with pytest.raises(RwsrError, match="no noise patches found"):
        NoisePool(str(tmp_path), "cpu", seed=0)
    opt = {"aug": "noise", "noise_data": str(pool_dir), "GT_size": 64}
    assert build_noise_pool(opt, 4, "cpu", 0, "val") is None
    assert build_noise_pool(dict(opt, aug=None), 4, "cpu", 0, "train") is None
    pool = build_noise_pool(opt, 4, "cpu", 10, "train", rank=1)
    assert len(pool) == 3 and pool.seed == 11


# ---------------------------------------------------------------- where windows come from
def _position_patch(folder, height, width):
    """A patch whose red value at (r, c) is 16 r + c: a window's corner tells its position."""
    rows, cols = np.mgrid[0:height, 0:width]
    rgb = np.stack([16 * rows + cols, np.zeros_like(rows), np.full_like(rows, 200)], axis=2).astype(np.uint8)
    _write(folder / "position.png", rgb)


def test_every_window_position_is_drawn_and_rows_and_columns_independently(tmp_path):
    _position_patch(tmp_path, 6, 7)  # a 4x4 crop fits at 3 x 4 positions
    pool = NoisePool(str(tmp_path), "cpu", seed=0)
    corners = (pool.crops(3000, 4, 4)[:, 0, 0, 0] * 255).round().long()
    tops, lefts = (corners // 16).tolist(), (corners % 16).tolist()
    counts = {}
    for position in zip(tops, lefts):
        counts[position] = counts.get(position, 0) + 1
    assert set(counts) == {(r, c) for r in range(3) for c in range(4)}
    assert min(counts.values()) > 3000 / 12 * 0.7  # uniform: 250 expected each
    # a window is the patch's pixels at its position
    window = pool.crops(1, 4, 4)[0, 0]
    top, left = int(round(window[0, 0].item() * 255)) // 16, int(round(window[0, 0].item() * 255)) % 16
    expected = (16 * (top + np.arange(4))[:, None] + left + np.arange(4)[None, :]) / 255.0
    assert torch.allclose(window, torch.from_numpy(expected).float(), atol=1e-6)


def test_sixteen_bit_patches_are_scaled_by_65535(tmp_path):
    rng = np.random.default_rng(4)
    patch = rng.integers(20000, 60000, (8, 8, 3)).astype(np.uint16)
    _write(tmp_path / "deep.png", patch)
    pool = NoisePool(str(tmp_path), "cpu", seed=0)
    noise = (pool.inject(torch.full((1, 3, 8, 8), 0.5)) - 0.5)[0].double()
    values = torch.from_numpy(patch.astype(np.float64).transpose(2, 0, 1) / 65535.0)
    assert torch.allclose(noise, values - values.mean(dim=(1, 2), keepdim=True), atol=2e-7, rtol=0)


def test_patches_in_subfolders_count_and_no_seed_means_seed_zero(tmp_path, pool_dir):
    nested = tmp_path / "camera" / "day"
    nested.mkdir(parents=True)
    _write(nested / "a.png", _gaussian_patch(np.random.default_rng(1), (20, 20), 0.05))
    assert len(NoisePool(str(tmp_path), "cpu", seed=0)) == 1
    lr = torch.full((6, 3, 12, 12), 0.5)
    assert torch.equal(NoisePool(str(pool_dir), "cpu", seed=None).inject(lr.clone()),
                       NoisePool(str(pool_dir), "cpu", seed=0).inject(lr.clone()))


def test_state_round_trip_is_silent_and_a_changed_pool_is_reported(tmp_path, pool_dir):
    from arch_helpers import captured_project_log
    pool = NoisePool(str(pool_dir), "cpu", seed=2)
    state = pool.state_dict()
    expected = pool.crops(4, 12, 12)
    twin = NoisePool(str(pool_dir), "cpu", seed=9)
    with captured_project_log() as log:
        twin.load_state_dict(state)
    assert log.text() == "" and torch.equal(twin.crops(4, 12, 12), expected)
    with captured_project_log() as log:
        twin.load_state_dict(dict(state, num_patches=7))
    assert f"noise pool {pool_dir} has 3 patches, the saved state 7" in log.text()


def test_a_state_from_another_device_reseeds_like_a_fresh_run(pool_dir):
    from arch_helpers import captured_project_log
    pool = NoisePool(str(pool_dir), "cpu", seed=5)
    pool.crops(4, 12, 12)  # move the generator on
    with captured_project_log() as log:
        pool.load_state_dict(dict(pool.state_dict(), device_type="cuda"))
    assert "saved on cuda and cannot be restored on cpu; reseeding" in log.text()
    assert torch.equal(pool.crops(4, 12, 12), NoisePool(str(pool_dir), "cpu", seed=5).crops(4, 12, 12))


def test_seeds_are_taken_modulo_two_to_the_63(pool_dir):
    # manual_seed + rank can be any int; seeds that differ by 2**63 draw the same noise
    big = NoisePool(str(pool_dir), "cpu", seed=2**63 + 5)
    assert torch.equal(big.crops(4, 12, 12), NoisePool(str(pool_dir), "cpu", seed=5).crops(4, 12, 12))
    big.load_state_dict(dict(big.state_dict(), device_type="cuda"))
    assert torch.equal(big.crops(4, 12, 12), NoisePool(str(pool_dir), "cpu", seed=5).crops(4, 12, 12))
    for seed, expected in ((2**63 + 5, 5), (None, 0), (12, 12)):  # against torch's own generator
        state = NoisePool(str(pool_dir), "cpu", seed=seed).generator.get_state()
        assert torch.equal(state, torch.Generator().manual_seed(expected).get_state())


def test_the_training_pool_is_seeded_with_manual_seed_plus_rank(pool_dir):
    opt = {"aug": "noise", "noise_data": str(pool_dir), "GT_size": 48}
    lr = torch.full((6, 3, 12, 12), 0.5)

    def draws(pool):
        return pool.inject(lr.clone())

    assert torch.equal(draws(build_noise_pool(opt, 4, "cpu", 5, "train")), draws(NoisePool(str(pool_dir), "cpu", 5)))
    assert torch.equal(draws(build_noise_pool(opt, 4, "cpu", 5, "train", rank=2)),
                       draws(NoisePool(str(pool_dir), "cpu", 7)))
    assert torch.equal(draws(build_noise_pool(opt, 4, "cpu", None, "train")), draws(NoisePool(str(pool_dir), "cpu", 0)))
