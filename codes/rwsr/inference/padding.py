"""Pad inputs that are too small for the network, crop the result back."""
import torch.nn.functional as F

# Below this size 3x3 convolutions see mostly padding and the bicubic kernels
# used by global_residual and back-projection run out of support, so tiny
# inputs are mirrored up to it and the result cropped back.
MIN_INPUT_SIZE = 8


def pad_to_min_size(x, min_size=MIN_INPUT_SIZE):
    """Pad the bottom/right of x (NxCxHxW) to at least min_size; returns (x, (H, W))."""
    height, width = x.shape[-2:]
    pad_h, pad_w = max(0, min_size - height), max(0, min_size - width)
    if not pad_h and not pad_w:
        return x, (height, width)
    # Reflection needs a pad smaller than the side; mirror in steps, replicate 1-pixel sides.
    while pad_h or pad_w:
        step_h = min(pad_h, x.shape[-2] - 1)
        step_w = min(pad_w, x.shape[-1] - 1)
        if step_h == 0 and step_w == 0:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
            break
        x = F.pad(x, (0, step_w, 0, step_h), mode="reflect")
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return x, (height, width)


def crop_to(y, size, scale):
    height, width = size
    return y[..., :height * scale, :width * scale]
