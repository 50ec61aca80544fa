"""MATLAB bicubic imresize: reference outputs, a per-pixel reference, PIL, torch."""
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from imresize_loop_reference import imresize_loop
from rwsr.utils.errors import RwsrError
from rwsr.utils.imresize import imresize, imresize_torch, imresize_uint8, quantize_uint8, resize_weights

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "imresize_reference.npz")


def reference_cases():
    archive = np.load(REFERENCE)
    index = 0
    cases = []
    while f"input_{index}" in archive:
        cases.append({key: archive[f"{key}_{index}"] for key in ("input", "scale", "output", "output_uint8")})
        index += 1
    assert cases, REFERENCE
    return cases


CASES = reference_cases()


def to_chw(img):
    return torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1) if img.ndim == 3 else \
        torch.from_numpy(img.astype(np.float32))


def from_chw(tensor, ndim):
    return tensor.permute(1, 2, 0).numpy() if ndim == 3 else tensor.numpy()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['input'].shape}x{float(c['scale']):.3g}")
def test_matches_matlab_reference(case):
    img, scale = case["input"], float(case["scale"])
    out = imresize(img, scale)
    assert out.shape == case["output"].shape
    np.testing.assert_allclose(out, case["output"], rtol=0, atol=1e-9)
    out_uint8 = imresize_uint8(img, scale)
    assert out_uint8.dtype == np.uint8
    near_half = np.abs(np.abs(case["output"] - np.floor(case["output"])) - 0.5) < 1e-3
    assert np.array_equal(out_uint8[~near_half], case["output_uint8"][~near_half])


@pytest.mark.parametrize("case", CASES[::3], ids=lambda c: f"{c['input'].shape}x{float(c['scale']):.3g}")
def test_float32_numpy_and_torch_match_reference(case):
    img, scale = case["input"], float(case["scale"])
    out32 = imresize(img.astype(np.float32), scale)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, case["output"], rtol=0, atol=1e-3)
    out_torch = from_chw(imresize_torch(to_chw(img), scale), img.ndim)
    np.testing.assert_allclose(out_torch, case["output"], rtol=0, atol=1e-3)


@pytest.mark.parametrize("scale", [0.3, 0.37, 1 / 3, 0.9, 1.0, 1.7, 3.0])
def test_matches_per_pixel_reference_at_any_scale(scale):
    img = data.coffee()[40:71, 100:123]  # odd sizes on purpose
    expected = imresize_loop(img, scale)
    out = imresize(img, scale)
    assert out.shape[:2] == (math.ceil(31 * scale), math.ceil(23 * scale))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9)


def test_tiny_images_mirror_their_borders():
    for shape, scale in (((1, 1), 4.0), ((2, 3), 0.5), ((1, 5), 0.25), ((3, 1), 2.5)):
        img = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) * 17
        np.testing.assert_allclose(imresize(img, scale), imresize_loop(img, scale), rtol=0, atol=1e-9)


def pil_bicubic(img, scale):
    """PIL's antialiased bicubic on float channels (no 8-bit rounding between passes)."""
    height, width = img.shape[:2]
    size = (round(width * scale), round(height * scale))
    channels = [np.asarray(Image.fromarray(img[:, :, c].astype(np.float32), mode="F")
                           .resize(size, Image.BICUBIC)) for c in range(img.shape[2])]
    return np.stack(channels, axis=2)


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0])
def test_agrees_with_pil_antialiased_bicubic_away_from_borders(scale):
    img = data.astronaut()[100:196, 150:262]
    ours = imresize(img, scale)
    theirs = pil_bicubic(img, scale)
    assert ours.shape == theirs.shape
    margin = math.ceil(2 * max(scale, 1)) + 2  # PIL truncates the kernel at the border, MATLAB mirrors
    inner = (slice(margin, -margin), slice(margin, -margin))
    np.testing.assert_allclose(ours[inner], theirs[inner], rtol=0, atol=2e-3)
    assert np.abs(ours - theirs).max() > 1e-2  # the borders do differ: the comparison sees real pixels


def test_torch_is_batched_and_keeps_dtype_and_range():
    img = data.chelsea()[:40, :52]
    batch = torch.stack([to_chw(img), to_chw(img[::-1].copy()) * 257.0])  # a second image on the 16-bit range
    out = imresize_torch(batch[None], 0.25)
    assert out.shape == (1, 2, 3, 10, 13) and out.dtype == torch.float32
    np.testing.assert_allclose(from_chw(out[0, 0], 3), imresize(img, 0.25), rtol=0, atol=1e-3)
    np.testing.assert_allclose(from_chw(out[0, 1], 3), imresize(img[::-1], 0.25) * 257.0, rtol=0, atol=0.05)
    double = imresize_torch(batch.double(), 0.5)
    assert double.dtype == torch.float64
    np.testing.assert_allclose(from_chw(double[0], 3), imresize(img, 0.5), rtol=0, atol=1e-9)
    half = imresize_torch(batch[:1].half() / 255, 0.5)
    assert half.dtype == torch.float16
    np.testing.assert_allclose(from_chw(half[0].float(), 3) * 255, imresize(img, 0.5), rtol=0, atol=0.5)


def test_uint8_rounds_half_away_from_zero_and_saturates():
    values = np.array([-3.2, -0.5, 0.49, 0.5, 1.5, 2.5, 254.5, 255.4, 300.0])
    assert quantize_uint8(values).tolist() == [0, 0, 0, 1, 2, 3, 255, 255, 255]
    edge = np.zeros((16, 16), dtype=np.uint8)
    edge[:, 8:] = 255  # bicubic overshoots past 0 and 255 next to a hard edge
    assert imresize(edge, 2.0).min() < 0 and imresize(edge, 2.0).max() > 255
    out = imresize_uint8(edge, 2.0)
    assert out.min() == 0 and out.max() == 255


def test_weights_are_cached_and_read_only():
    indices, weights = resize_weights(100, 0.25)
    assert resize_weights(100, 0.25)[1] is weights
    assert not weights.flags.writeable and not indices.flags.writeable
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert indices.min() >= 0 and indices.max() < 100


@pytest.mark.parametrize("scale", [0, -0.5, float("nan"), float("inf"), "abc"])
def test_bad_scale_is_a_one_line_error(scale):
    with pytest.raises(RwsrError, match="scale"):
        imresize(np.zeros((4, 4)), scale)


def test_bad_shapes_and_types_are_errors():
    with pytest.raises(RwsrError, match="HxW"):
        imresize(np.zeros((2, 4, 4, 3)), 0.5)
    with pytest.raises(RwsrError, match="uint8"):
        imresize_uint8(np.zeros((4, 4), dtype=np.uint16), 0.5)
    with pytest.raises(RwsrError, match="empty"):
        imresize(np.zeros((0, 4)), 0.5)
    with pytest.raises(RwsrError, match=r"\[\.\.\., H, W\]"):
        imresize_torch(torch.zeros(5), 0.5)
