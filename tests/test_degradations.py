"""On-the-fly degradations (rwsr.data.degradations): kernels against float64 formulas written here
from the Real-ESRGAN paper's equations, JPEG against OpenCV, filtering and USM against OpenCV /
SciPy, the statistics of the random choices, the pair queue, option errors."""
import math

import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage, special
from skimage import data as skdata

from rwsr.data.degradations import (bivariate_gaussian_kernel, filter_per_image, generalized_gaussian_kernel, jpeg,
                                    plateau_kernel, sinc_kernel, usm_sharpen)
from rwsr.data.degradations.kernels import KERNEL_FAMILIES, cropped
from rwsr.data.degradations.pipeline import (DegradationSettings, RESIZE_KINDS, SecondOrderDegradation,
                                             StageSettings)
from rwsr.data.degradations.queue import PairQueue
from rwsr.data.degradations.random_kernels import BlurSettings
from rwsr.options import schema


# ---------------------------------------------------------------- kernels: the paper's equations in float64
def reference_form(size, sigma_x, sigma_y, theta):
    """Cᵀ Σ⁻¹ C with Σ = R diag(σx², σy²) Rᵀ, C = (column, row) offsets from the centre."""
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    inverse = np.linalg.inv(rotation @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rotation.T)
    half = size // 2
    out = np.empty((size, size))
    for row in range(size):
        for col in range(size):
            c = np.array([col - half, row - half], dtype=np.float64)
            out[row, col] = c @ inverse @ c
    return out


def reference_sinc(size, cutoff):
    half = size // 2
    out = np.empty((size, size))
    for row in range(size):
        for col in range(size):
            r = math.hypot(row - half, col - half)
            out[row, col] = (cutoff ** 2 / (4 * math.pi) if r == 0
                             else cutoff * special.j1(cutoff * r) / (2 * math.pi * r))
    return out / out.sum()


PARAMS = [(21, 2.0, 2.0, 0.0), (21, 0.7, 2.8, 0.6), (15, 3.0, 1.2, -2.5), (7, 0.3, 0.9, 1.9)]


@pytest.mark.parametrize("size, sx, sy, theta", PARAMS)
def test_gaussian_kernels_follow_the_papers_equations(size, sx, sy, theta):
    form = reference_form(size, sx, sy, theta)
    expected = np.exp(-0.5 * form)
    np.testing.assert_allclose(bivariate_gaussian_kernel(size, sx, sy, theta).numpy(), expected / expected.sum(),
                               rtol=1e-12, atol=1e-15)
    for beta in (0.5, 1.0, 3.7):
        generalized = np.exp(-0.5 * form ** beta)
        plateau = 1 / (1 + form ** beta)
        np.testing.assert_allclose(generalized_gaussian_kernel(size, sx, sy, theta, beta).numpy(),
                                   generalized / generalized.sum(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(plateau_kernel(size, sx, sy, theta, beta).numpy(), plateau / plateau.sum(),
                                   rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("size, cutoff", [(21, math.pi), (21, math.pi / 5), (9, 1.3)])
def test_sinc_kernel_follows_the_papers_equation(size, cutoff):
    """torch's float64 J1 (used on every device) agrees with SciPy's to about 1e-7: float32 precision."""
    np.testing.assert_allclose(sinc_kernel(size, cutoff).numpy(), reference_sinc(size, cutoff), rtol=0, atol=2e-7)


def test_kernels_of_a_batch_equal_one_kernel_at_a_time_and_crop_like_padding():
    sx = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float32)
    sy, theta, beta = torch.tensor([1.0, 2.0, 0.4]), torch.tensor([0.3, 0.0, -1.0]), torch.tensor([0.6, 1.0, 2.5])
    batch = plateau_kernel(21, sx, sy, theta, beta)
    assert batch.shape == (3, 21, 21) and batch.dtype == torch.float32
    for i in range(3):
        single = plateau_kernel(21, float(sx[i]), float(sy[i]), float(theta[i]), float(beta[i]))
        torch.testing.assert_close(batch[i], single.float(), rtol=1e-5, atol=1e-7)
    supports = torch.tensor([7, 21, 13])
    cut = cropped(bivariate_gaussian_kernel(21, sx.double(), sy.double(), theta.double()), supports)
    for i, support in enumerate(supports.tolist()):
        pad = (21 - support) // 2
        small = np.pad(bivariate_gaussian_kernel(support, float(sx[i]), float(sy[i]), float(theta[i])).numpy(), pad)
        np.testing.assert_allclose(cut[i].numpy(), small, rtol=1e-6, atol=1e-12)


def test_schema_and_kernels_name_the_same_families():
    assert schema.KERNEL_FAMILIES == KERNEL_FAMILIES


# ---------------------------------------------------------------- JPEG, filtering, USM
def photos(size=128):
    return [getattr(skdata, name)()[:size, :size] for name in ("astronaut", "coffee", "chelsea", "rocket")]


def to_batch(images):
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255


def opencv_jpeg(image, quality):
    ok, encoded = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1]


def test_jpeg_equals_opencv_at_the_same_quality():
    """Measured on this stack (torchvision's and OpenCV's libjpeg): identical bytes after decoding.
    The test allows 1 level anywhere and 0.05 levels on average for other libjpeg builds."""
    images = photos()
    qualities = [30, 55, 80, 95]
    ours = (jpeg(to_batch(images), torch.tensor(qualities, dtype=torch.float64)) * 255).round().numpy()
    for image, quality, result in zip(images, qualities, ours):
        difference = np.abs(result.transpose(1, 2, 0) - opencv_jpeg(image, quality).astype(np.float64))
        assert difference.max() <= 1 and difference.mean() <= 0.05
    single = jpeg(to_batch(images[:1]), 55.4)  # fractional qualities round to the codec's integers
    torch.testing.assert_close(single[0], jpeg(to_batch(images), 55)[0], rtol=0, atol=0)
    with pytest.raises(ValueError):
        jpeg(to_batch(images), [30, 40])


def test_per_image_filtering_equals_scipy_with_mirrored_borders():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 30, 26, generator=generator, dtype=torch.float64)
    kernels = bivariate_gaussian_kernel(9, torch.tensor([0.5, 1.5, 2.5], dtype=torch.float64),
                                        torch.tensor([1.0, 0.7, 2.5], dtype=torch.float64),
                                        torch.tensor([0.4, 1.2, 0.0], dtype=torch.float64))
    out = filter_per_image(images, kernels)
    for b in range(3):
        for c in range(3):
            expected = ndimage.correlate(images[b, c].numpy(), kernels[b].numpy(), mode="mirror")
            np.testing.assert_allclose(out[b, c].numpy(), expected, rtol=1e-10, atol=1e-12)


def test_usm_sharpening_equals_opencv_unsharp_masking():
    image = photos(96)[0].astype(np.float32) / 255
    blurred = cv2.GaussianBlur(image, (51, 51), 0)  # OpenCV's sigma for 51 taps; reflected borders
    detail = image - blurred
    mask = (np.abs(detail) * 255 > 10).astype(np.float32)
    soft = cv2.GaussianBlur(mask, (51, 51), 0)
    expected = soft * np.clip(image + 0.5 * detail, 0, 1) + (1 - soft) * image
    ours = usm_sharpen(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, expected, atol=2e-5)


# ---------------------------------------------------------------- the pipeline's random choices
BLUR = BlurSettings(21, KERNEL_FAMILIES, (0.45, 0.25, 0.12, 0.03, 0.12, 0.03), 0.1, (0.2, 3.0), (0.5, 4.0), (1.0, 2.0))
STAGE1 = StageSettings((0.2, 0.7, 0.1), (0.15, 1.5), 0.5, (1.0, 30.0), (0.05, 3.0), 0.4, (30.0, 95.0))
STAGE2 = StageSettings((0.3, 0.4, 0.3), (0.3, 1.2), 0.3, (1.0, 25.0), (0.05, 2.5), 0.4, (40.0, 60.0))


def settings(**changes):
    values = dict(blur1=BLUR, blur2=BLUR, final_sinc_prob=0.8, stage1=STAGE1, stage2=STAGE2, second_blur_prob=0.8,
                  scale=4, gt_usm=False, gt_size=None)
    values.update(changes)
    return DegradationSettings(**values)


def assert_frequency(hits, trials, probability):
    """Within 4.5 binomial standard deviations (fixed seed: the test is deterministic)."""
    spread = 4.5 * math.sqrt(trials * probability * (1 - probability)) + 1e-9
    assert abs(hits - trials * probability) <= spread, (hits, trials, probability)


def test_each_choice_is_made_with_its_probability():
    degradation = SecondOrderDegradation(settings(), "cpu", seed=11)
    plans = [degradation.draw_plan(8, 64, 64) for _ in range(300)]
    batches, images = len(plans), 8 * len(plans)
    kinds = [kind for plan in plans for kind in plan.kinds1]
    assert_frequency(kinds.count("sinc"), images, 0.1)
    for family, probability in zip(KERNEL_FAMILIES, BLUR.probabilities):
        assert_frequency(kinds.count(family), images, 0.9 * probability)
    for kind, probability in zip(RESIZE_KINDS, STAGE1.resize_prob):
        assert_frequency(sum(plan.stage1.resize == kind for plan in plans), batches, probability)
    assert_frequency(sum(plan.stage1.gaussian for plan in plans), batches, 0.5)
    assert_frequency(sum(plan.stage2.gaussian for plan in plans), batches, 0.3)
    assert_frequency(sum(plan.second_blur for plan in plans), batches, 0.8)
    assert_frequency(sum(plan.sinc_before_jpeg for plan in plans), batches, 0.5)
    assert_frequency(int(sum(plan.final_sinc.sum() for plan in plans)), images, 0.8)
    assert_frequency(int(sum(plan.stage1.gray.sum() for plan in plans)), images, 0.4)
    quality = torch.cat([plan.stage2.jpeg_quality for plan in plans])
    assert 40 <= quality.min() and quality.max() <= 60 and abs(quality.mean().item() - 50) < 0.5
    up = [plan.stage1.resize_factor for plan in plans if plan.stage1.resize == "up"]
    down = [plan.stage1.resize_factor for plan in plans if plan.stage1.resize == "down"]
    assert min(up) >= 1 and max(up) <= 1.5 and min(down) >= 0.15 and max(down) <= 1
    sigma = torch.cat([plan.stage1.noise_strength for plan in plans if plan.stage1.gaussian])
    assert 1 <= sigma.min() and sigma.max() <= 30
    for plan in plans[:20]:
        sums = plan.kernel1.sum(dim=(1, 2))
        torch.testing.assert_close(sums, torch.ones_like(sums))
        assert (plan.sinc[~plan.final_sinc, 10, 10] == 1).all()  # no final sinc: a pulse


def test_degraded_batches_have_the_lr_shape_8_bit_values_and_repeat_from_the_seed():
    gt = to_batch(photos(96))
    first = SecondOrderDegradation(settings(gt_usm=True, gt_size=64), "cpu", seed=5)
    lq, target = first(gt)
    assert lq.shape == (4, 3, 16, 16) and target.shape == (4, 3, 64, 64)
    assert 0 <= lq.min() and lq.max() <= 1 and torch.equal((lq * 255).round() / 255, lq)
    assert 0 <= target.min() and target.max() <= 1
    again = SecondOrderDegradation(settings(gt_usm=True, gt_size=64), "cpu", seed=5)
    lq_again, target_again = again(gt)
    assert torch.equal(lq, lq_again) and torch.equal(target, target_again)
    plain = SecondOrderDegradation(settings(), "cpu", seed=5)(gt)[0]
    assert plain.shape == (4, 3, 24, 24)


def test_gaussian_noise_of_the_drawn_strength_reaches_the_lr():
    """With blur, resize, JPEG loss and the final sinc off, two runs differ only by the second order's noise."""
    quiet = StageSettings((0.0, 0.0, 1.0), (0.5, 1.5), 1.0, (0.0, 0.0), (0.0, 0.0), 0.0, (100.0, 100.0))
    pulse_blur = BlurSettings(7, ("iso",), (1.0,), 0.0, (0.01, 0.01), (0.5, 4.0), (1.0, 2.0))
    gt = to_batch(photos(64))
    base = SecondOrderDegradation(settings(blur1=pulse_blur, blur2=pulse_blur, final_sinc_prob=0.0, stage1=quiet,
                                           stage2=quiet), "cpu", seed=1)
    clean, _ = base(gt)
    noisy_stage = StageSettings((0.0, 0.0, 1.0), (0.5, 1.5), 1.0, (20.0, 20.0), (0.0, 0.0), 0.0, (100.0, 100.0))
    noisy, _ = SecondOrderDegradation(settings(blur1=pulse_blur, blur2=pulse_blur, final_sinc_prob=0.0,
                                               stage1=quiet, stage2=noisy_stage), "cpu", seed=1)(gt)
    residual = (noisy - clean).std().item() * 255
    assert 12 < residual < 24  # sigma 20, clipped at the borders of [0, 1] and quantised by JPEG quality 100


# ---------------------------------------------------------------- the pair queue and its state
def test_queue_passes_batches_while_filling_then_swaps_and_its_state_resumes_exactly():
    generator = torch.Generator().manual_seed(0)
    queue = PairQueue(4, generator)
    batches = [(torch.full((2, 3, 2, 2), i / 255), torch.full((2, 3, 8, 8), i / 255 + 0.5 / 255)) for i in range(6)]
    for lq, gt in batches[:2]:
        out_lq, out_gt = queue.mix(lq, gt)
        assert torch.equal(out_lq, lq) and torch.equal(out_gt, gt)
    state = queue.state_dict()
    assert state["lq"].keys() == {"uint8"} and state["gt"].keys() == {"float"}  # stored exactly either way
    saved_generator = generator.get_state()
    first = [queue.mix(lq, gt) for lq, gt in batches[2:]]
    resumed = PairQueue(4, torch.Generator())
    resumed.generator.set_state(saved_generator)
    resumed.load_state_dict(state, "cpu")
    second = [resumed.mix(lq, gt) for lq, gt in batches[2:]]
    for (a_lq, a_gt), (b_lq, b_gt) in zip(first, second):
        assert torch.equal(a_lq, b_lq) and torch.equal(a_gt, b_gt)
    returned = {round(v * 255) for lq, _ in first for v in lq.flatten().tolist()}
    assert returned <= {0, 1, 2, 3, 4} and returned  # older batches come out, the newest may stay queued
    with pytest.raises(ValueError):
        PairQueue(5, generator).mix(*batches[0])
