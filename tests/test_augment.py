"""Training augmentation draws: crop windows cover every position, flips are fair coins, and each
flip is the numpy operation it names; on-the-fly LR crops of non-square images."""
import numpy as np
import pytest
import torch
from skimage import data as skdata

from rwsr.data import transforms as T
from rwsr.utils.image_io import to_float32
from rwsr.utils.imresize import imresize

DRAWS = 4000


def test_crop_windows_cover_every_position_of_a_non_square_image():
    rng = np.random.default_rng(0)
    boxes = [T.random_crop_box(rng, 7, 11, 4) for _ in range(DRAWS)]
    assert {top for top, _ in boxes} == set(range(4))  # 7 - 4 + 1 rows of positions
    assert {left for _, left in boxes} == set(range(8))
    assert T.random_crop_box(rng, 4, 4, 4) == (0, 0)


def test_flips_are_independent_fair_coins_and_off_when_disabled():
    rng = np.random.default_rng(1)
    draws = np.array([T.draw_flips(rng, True, True) for _ in range(DRAWS)])
    assert draws.dtype == bool
    np.testing.assert_allclose(draws.mean(axis=0), 0.5, atol=0.03)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert (draws[:, a] & draws[:, b]).mean() == pytest.approx(0.25, abs=0.03)
    assert not np.array([T.draw_flips(rng, False, True) for _ in range(200)])[:, 0].any()
    no_rotation = np.array([T.draw_flips(rng, True, False) for _ in range(200)])
    assert not no_rotation[:, 1:].any() and no_rotation[:, 0].any()


def test_each_flip_is_the_numpy_operation_it_names():
    img = np.arange(2 * 3 * 2).reshape(2, 3, 2)
    assert np.array_equal(T.apply_flips(img, (True, False, False)), img[:, ::-1])
    assert np.array_equal(T.apply_flips(img, (False, True, False)), img[::-1])
    assert np.array_equal(T.apply_flips(img, (False, False, True)), img.transpose(1, 0, 2))
    assert np.array_equal(T.apply_flips(img, (True, True, True)), img[::-1, ::-1].transpose(1, 0, 2))
    eight = {T.apply_flips(img, (h, v, t)).tobytes() + bytes(T.apply_flips(img, (h, v, t)).shape)
             for h in (False, True) for v in (False, True) for t in (False, True)}
    assert len(eight) == 8  # the eight symmetries of the square, all different


def test_on_the_fly_lr_crop_of_a_non_square_image_is_the_window_of_its_whole_lr():
    gt = skdata.astronaut()[:96, :64]  # 24 x 16 LR at x4: taller than wide
    whole = np.clip(imresize(to_float32(gt), 0.25), 0, 1).astype(np.float32)
    for top, left in ((0, 0), (24 - 6, 16 - 6), (17, 5)):
        window = T.bicubic_lr_crop(gt, top, left, 6, 4)
        np.testing.assert_allclose(window, whole[top:top + 6, left:left + 6], atol=1e-6)


def test_to_tensor_gives_float32_channels_first():
    img = np.random.default_rng(2).random((4, 5, 3))  # float64
    tensor = T.to_tensor(img)
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 4, 5) and tensor.is_contiguous()
    np.testing.assert_allclose(tensor.numpy(), img.transpose(2, 0, 1).astype(np.float32))
