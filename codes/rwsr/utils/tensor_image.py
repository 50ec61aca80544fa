"""Conversions between image arrays and tensors, shared by validation and inference."""
import numpy as np
import torch


def image_to_tensor(img):
    """HxWx3 uint8/uint16 RGB array -> 1x3xHxW float32 tensor in [0, 1]."""
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    array = np.ascontiguousarray(img.transpose(2, 0, 1)).astype(np.float32) / np.float32(scale)
    return torch.from_numpy(array).unsqueeze(0)


def tensor_to_uint8(tensor):
    """1xCxHxW or CxHxW float tensor in [0, 1] -> HxWxC uint8 array (HxW for one channel), rounded."""
    if tensor.dim() == 4:
        tensor = tensor[0]
    # one float temporary, then in place: a 4000x4000 result needs no further full-size copies
    array = tensor.detach().float().clamp(0, 1).mul_(255.0).round_().to(torch.uint8)
    img = array.permute(1, 2, 0).cpu().numpy()
    return img[..., 0] if img.shape[2] == 1 else img
