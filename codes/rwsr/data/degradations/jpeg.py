"""Real JPEG compression of a batch through torchvision.io (libjpeg on the CPU, nvJPEG on CUDA).

No gradient ever flows into the degradation, so the real codec replaces the
differentiable DCT model other frameworks use.
"""
import torch
from torchvision.io import decode_jpeg, encode_jpeg

from ...utils.torch_compat import torchvision_at_least


def _qualities(quality, count):
    """Integer qualities in [1, 100], one per image (the codec takes integers)."""
    values = torch.as_tensor(quality, dtype=torch.float64).reshape(-1).cpu()
    if values.numel() == 1:
        values = values.expand(count)
    if values.numel() != count:
        raise ValueError(f"jpeg: {values.numel()} qualities for {count} images")
    return values.round().clamp(1, 100).to(torch.int64).tolist()


def _decode(encoded, device):
    """A list of JPEG byte tensors -> images: one call from torchvision 0.20 on (one nvJPEG batch on
    CUDA); torchvision 0.19 decodes one tensor per call (what 0.20+ does on the CPU as well)."""
    if torchvision_at_least("0.20"):
        return decode_jpeg(encoded, device=device)
    return [decode_jpeg(data, device=device) for data in encoded]


def to_uint8(batch):
    return (batch.clamp(0, 1) * 255).round().to(torch.uint8)


def jpeg(batch, quality):
    """batch (B, 3, H, W) in [0, 1] -> the decoded JPEG at `quality` (a number or one per image), same device.

    Images that share a quality are encoded and decoded in one batched call.
    """
    if batch.dim() != 4 or batch.shape[1] != 3:
        raise ValueError(f"jpeg: expected a (B, 3, H, W) batch, got {tuple(batch.shape)}")
    images = to_uint8(batch.detach())
    qualities = _qualities(quality, images.shape[0])
    out = torch.empty_like(images)
    decode_device = batch.device if batch.device.type == "cuda" else "cpu"
    for value in sorted(set(qualities)):
        indices = [i for i, q in enumerate(qualities) if q == value]
        encoded = encode_jpeg([images[i] for i in indices], quality=value)
        decoded = _decode([data.cpu() for data in encoded], decode_device)
        for i, image in zip(indices, decoded):
            out[i] = image.to(out.device)
    return out.to(batch.dtype) / 255.0
