"""PSNR/SSIM against scikit-image and hand computation; LPIPS never on random weights."""
import math

import numpy as np
import pytest
from skimage import color, data, metrics

from rwsr.metrics import calculate_psnr, calculate_ssim, create_lpips_metric, rgb_to_y
from rwsr.metrics.image_metrics import image_metrics, mean_metrics

SKIMAGE_SSIM = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)


def _noisy(img, seed, amplitude=20):
    rng = np.random.default_rng(seed)
    noise = rng.integers(-amplitude, amplitude + 1, img.shape)
    return np.clip(img.astype(np.int64) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pair():
    gt = data.astronaut()[100:260, 150:290]  # 160x140, not square on purpose
    return gt, _noisy(gt, 0)


def test_psnr_by_hand():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 10  # one error of 10 over 48 values: MSE = 100 / 48
    assert calculate_psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 * 48 / 100), abs=1e-12)
    assert calculate_psnr(a, a) == float("inf")


def test_psnr_matches_skimage_with_crop_border(pair):
    gt, sr = pair
    expected = metrics.peak_signal_noise_ratio(gt[4:-4, 4:-4], sr[4:-4, 4:-4], data_range=255)
    assert calculate_psnr(sr, gt, crop_border=4) == pytest.approx(expected, abs=1e-9)
    assert calculate_psnr(sr, gt, crop_border=4) != pytest.approx(calculate_psnr(sr, gt), abs=1e-6)


def test_y_channel_is_matlab_bt601():
    img = data.coffee()[:40, :50]
    expected = color.rgb2ycbcr(img)[..., 0]  # MATLAB rgb2ycbcr, luma in [16, 235]
    np.testing.assert_allclose(rgb_to_y(img), expected, atol=1e-9)
    assert rgb_to_y(np.zeros((1, 1, 3), np.uint8))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0)


def test_psnr_y_matches_skimage(pair):
    gt, sr = pair
    y_gt, y_sr = color.rgb2ycbcr(gt)[..., 0], color.rgb2ycbcr(sr)[..., 0]
    expected = metrics.peak_signal_noise_ratio(y_gt[4:-4, 4:-4], y_sr[4:-4, 4:-4], data_range=255)
    assert calculate_psnr(sr, gt, 4, test_y_channel=True) == pytest.approx(expected, abs=1e-9)


def test_ssim_rgb_matches_skimage(pair):
    gt, sr = pair
    expected = metrics.structural_similarity(gt[4:-4, 4:-4], sr[4:-4, 4:-4], channel_axis=2, **SKIMAGE_SSIM)
    assert calculate_ssim(sr, gt, crop_border=4) == pytest.approx(expected, abs=1e-9)
    assert 0.2 < expected < 0.95  # a meaningful, non-trivial comparison


def test_ssim_y_matches_skimage(pair):
    gt, sr = pair
    y_gt, y_sr = color.rgb2ycbcr(gt)[..., 0], color.rgb2ycbcr(sr)[..., 0]
    expected = metrics.structural_similarity(y_gt[4:-4, 4:-4], y_sr[4:-4, 4:-4], **SKIMAGE_SSIM)
    assert calculate_ssim(sr, gt, 4, test_y_channel=True) == pytest.approx(expected, abs=1e-9)
    assert calculate_ssim(gt, gt, 4, test_y_channel=True) == pytest.approx(1.0, abs=1e-12)


def test_bad_inputs_are_rejected(pair):
    gt, sr = pair
    with pytest.raises(ValueError, match="shapes differ"):
        calculate_psnr(gt, sr[:-1])
    with pytest.raises(TypeError, match="uint8"):
        calculate_ssim(gt.astype(np.float32), sr.astype(np.float32))
    with pytest.raises(ValueError, match="crop_border"):
        calculate_psnr(gt[:8, :8], sr[:8, :8], crop_border=4)
    with pytest.raises(ValueError, match="at least 11x11"):
        calculate_ssim(gt[:10, :10], sr[:10, :10])


def test_lpips_is_skipped_without_pretrained_weights(tmp_path):
    metric, reason = create_lpips_metric("cpu", weights_dir=str(tmp_path), download=False)
    assert metric is None and "alexnet-owt-7be5be79.pth" in reason and str(tmp_path) in reason
    metric, reason = create_lpips_metric("cpu", pretrained=False)
    assert metric is None and "skipped" in reason


@pytest.mark.filterwarnings("ignore::UserWarning")  # lpips passes torchvision a deprecated argument
def test_lpips_loads_backbone_file_and_package_linear_layers(tmp_path):
    """A stand-in AlexNet file (random, test only) must reach the metric exactly as lpips would use it."""
    import lpips
    import torch
    import torchvision

    torch.manual_seed(0)
    alexnet = torchvision.models.alexnet(weights=None)
    torch.save(alexnet.state_dict(), tmp_path / "alexnet-owt-7be5be79.pth")
    metric, reason = create_lpips_metric("cpu", weights_dir=str(tmp_path), download=False)
    assert reason is None

    reference = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False).eval()
    with torch.no_grad():
        for slice_module in reference.net.children():
            for index, layer in slice_module.named_children():
                if isinstance(layer, torch.nn.Conv2d):
                    layer.weight.copy_(alexnet.features[int(index)].weight)
                    layer.bias.copy_(alexnet.features[int(index)].bias)
    img1 = data.chelsea()[:64, :80]
    img2 = _noisy(img1, 1, amplitude=40)
    to_tensor = lambda img: torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None] / 127.5 - 1  # noqa: E731
    with torch.no_grad():
        expected = reference(to_tensor(img1), to_tensor(img2)).item()
    assert metric(img1, img2) == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert expected > 0 and metric(img1, img1) == 0.0


def test_image_metrics_of_a_pair_are_the_skimage_values(pair):
    gt, sr = pair
    y_gt, y_sr = color.rgb2ycbcr(gt)[..., 0], color.rgb2ycbcr(sr)[..., 0]
    calls = []

    def fake_lpips(a, b):  # LPIPS itself is tested above; here: it sees the whole pair, SR first
        calls.append((a, b))
        return 0.25

    values = image_metrics(sr, gt, 4, fake_lpips)
    inner = (slice(4, -4), slice(4, -4))
    assert values["psnr"] == pytest.approx(metrics.peak_signal_noise_ratio(gt[inner], sr[inner], data_range=255))
    assert values["ssim"] == pytest.approx(
        metrics.structural_similarity(gt[inner], sr[inner], channel_axis=2, **SKIMAGE_SSIM))
    assert values["psnr_y"] == pytest.approx(metrics.peak_signal_noise_ratio(y_gt[inner], y_sr[inner],
                                                                             data_range=255))
    assert values["ssim_y"] == pytest.approx(metrics.structural_similarity(y_gt[inner], y_sr[inner], **SKIMAGE_SSIM))
    assert values["lpips"] == 0.25 and len(calls) == 1 and calls[0][0] is sr and calls[0][1] is gt
    assert image_metrics(sr, gt, 4, None)["lpips"] is None
    assert set(image_metrics(sr, gt, 4, keys=("psnr_y",))) == {"psnr_y"}


def test_image_metrics_of_one_channel_images_are_luma_metrics_without_lpips(pair):
    gt, sr = (img[..., 1].copy() for img in pair)
    values = image_metrics(sr, gt, 2, lambda a, b: 1.0)
    assert values["psnr_y"] == values["psnr"] == pytest.approx(
        metrics.peak_signal_noise_ratio(gt[2:-2, 2:-2], sr[2:-2, 2:-2], data_range=255))
    assert values["ssim_y"] == values["ssim"]
    assert values["lpips"] is None


def test_mean_metrics_skip_missing_values():
    records = [{"psnr": 20.0, "lpips": None}, {"psnr": 30.0, "lpips": 0.5}, {"psnr": 25.0}]
    assert mean_metrics(records, keys=("psnr", "lpips", "ssim")) == {"psnr": 25.0, "lpips": 0.5, "ssim": None}
    assert mean_metrics([], keys=("psnr",)) == {"psnr": None}
