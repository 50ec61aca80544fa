import numpy as np
import torch
from skimage import data

from rwsr.metrics import calculate_psnr, image_metrics
from rwsr.utils.tensor_image import image_to_tensor, tensor_to_uint8


def test_round_trip_is_exact_for_uint8_and_rounds_to_nearest():
    img = data.chelsea()[:40, :50]
    np.testing.assert_array_equal(tensor_to_uint8(image_to_tensor(img)), img)
    x = torch.tensor([[[[0.6 / 255, 1.49 / 255, -0.2, 1.7]]]])
    np.testing.assert_array_equal(tensor_to_uint8(x), np.array([[1, 1, 0, 255]], dtype=np.uint8))


def test_one_channel_tensor_becomes_a_gray_image():
    gray = torch.rand(1, 1, 6, 7)
    out = tensor_to_uint8(gray)
    assert out.shape == (6, 7) and out.dtype == np.uint8


def test_image_metrics_of_gray_images_use_the_plain_values():
    gt = data.camera()[:64, :64]
    sr = np.clip(gt.astype(int) + 3, 0, 255).astype(np.uint8)
    values = image_metrics(sr, gt, crop_border=4)
    assert values["psnr_y"] == values["psnr"] == calculate_psnr(sr, gt, 4)
    assert values["ssim_y"] == values["ssim"] and values["lpips"] is None
