"""Noise level estimation (rwsr.prep.noise_estimation) on real photos with known added noise."""
import numpy as np
import pytest
from skimage import data

from rwsr.prep.noise_estimation import (NoisePoolStats, characterise_noise_pool, estimate_noise_sigma,
                                        zero_mean_std)


def add_noise(img, sigma, seed):
    """img + N(0, sigma) in 0-255 units, rounded and clipped to 8 bits as a real file would be."""
    noisy = img.astype(np.float64) + np.random.default_rng(seed).normal(0.0, sigma, img.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


PHOTOS = {
    "astronaut": data.astronaut,
    "coffee": data.coffee,
    "chelsea": data.chelsea,
    "camera": data.camera,  # gray
    "chelsea_gray": lambda: np.rint(data.chelsea() @ np.array([0.299, 0.587, 0.114])).astype(np.uint8),
}


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_recovers_added_gaussian_sigma_within_ten_percent(name):
    img = PHOTOS[name]()
    for seed, sigma in enumerate((5.0, 10.0, 20.0)):
        estimate = estimate_noise_sigma(add_noise(img, sigma, seed))
        assert abs(estimate / sigma - 1.0) < 0.10, (name, sigma, estimate)


def test_pure_white_noise_is_measured_exactly_in_float_and_8_bit():
    rng = np.random.default_rng(3)
    for sigma in (1.0, 4.0, 12.0):
        field = 128.0 + rng.normal(0.0, sigma, (256, 256, 3))
        assert estimate_noise_sigma(field) == pytest.approx(sigma, rel=0.03)
        # the 8-bit median is interpolated inside its quantisation bin, not stuck to steps of sigma/4
        rounded = np.clip(np.rint(field), 0, 255).astype(np.uint8)
        assert estimate_noise_sigma(rounded) == pytest.approx(np.sqrt(sigma ** 2 + 1 / 12), rel=0.03)


def test_bit_depth_and_data_range_do_not_change_the_answer():
    noisy = add_noise(data.chelsea(), 8.0, 0)
    as_uint16 = noisy.astype(np.uint16) * 257
    as_unit_float = noisy.astype(np.float32) / 255.0
    reference = estimate_noise_sigma(noisy)
    assert estimate_noise_sigma(as_uint16) == pytest.approx(reference, rel=0.02)
    assert estimate_noise_sigma(as_unit_float, data_range=1.0) == pytest.approx(reference, rel=0.02)


def test_per_channel_estimates_follow_each_channel_and_combine_as_rms():
    img = data.astronaut().astype(np.float64)
    rng = np.random.default_rng(5)
    sigmas = np.array([4.0, 8.0, 16.0])
    noisy = np.clip(np.rint(img + rng.normal(0.0, 1.0, img.shape) * sigmas), 0, 255).astype(np.uint8)
    per_channel = estimate_noise_sigma(noisy, per_channel=True)
    np.testing.assert_allclose(per_channel, sigmas, rtol=0.10)
    assert estimate_noise_sigma(noisy) == pytest.approx(np.sqrt(np.mean(per_channel ** 2)))


def test_clean_photos_rank_below_noisy_ones():
    for loader in (data.astronaut, data.coffee, data.rocket):
        img = loader()
        levels = [estimate_noise_sigma(img)] + [estimate_noise_sigma(add_noise(img, s, 1)) for s in (3.0, 6.0, 12.0)]
        assert levels == sorted(levels), levels
        assert levels[0] < 2.0


def test_flat_and_clipped_images_have_no_measured_noise():
    assert estimate_noise_sigma(np.full((40, 50, 3), 77, np.uint8)) == 0.0
    # a saturated half (all 255) must not pull the estimate of the other half down
    img = add_noise(np.full((128, 128), 120, np.uint8), 6.0, 2)
    img[:, 64:] = 255
    assert estimate_noise_sigma(img) == pytest.approx(6.0, rel=0.08)


def test_zero_mean_std_is_the_std_after_removing_channel_means():
    patch = np.random.default_rng(0).integers(0, 256, (16, 12, 3)).astype(np.uint8)
    channels = patch.reshape(-1, 3).astype(np.float64)
    expected = np.sqrt(np.mean((channels - channels.mean(axis=0)) ** 2))
    assert zero_mean_std(patch) == pytest.approx(expected, rel=1e-12)


def test_pool_statistics_summarise_per_patch_levels():
    rng = np.random.default_rng(1)
    patches = [np.clip(np.rint(100 + rng.normal(0, s, (48, 48, 3))), 0, 255).astype(np.uint8)
               for s in (3.0, 5.0, 7.0, 9.0, 11.0)]
    stats = characterise_noise_pool(patches)
    assert isinstance(stats, NoisePoolStats) and stats.count == 5
    np.testing.assert_allclose(stats.injected_std, [3, 5, 7, 9, 11], rtol=0.06)
    np.testing.assert_allclose(stats.sigma, [3, 5, 7, 9, 11], rtol=0.12)
    summary = stats.summary()
    assert summary["sigma_median"] == pytest.approx(np.median(stats.sigma))
    assert summary["sigma_p10"] < summary["sigma_median"] < summary["sigma_p90"]
