"""Synthetic sensor noise of Real-ESRGAN's model: additive Gaussian and Poisson (shot) noise.

Per image: a noise strength and whether the noise is gray (the same on all channels) or
colour. Random fields come from the generator on the images' device.
"""
import torch

# ITU-R 601 luma, as torchvision's rgb_to_grayscale.
_LUMA = (0.2989, 0.587, 0.114)


def gaussian_noise(images, sigma, gray, generator):
    """Zero-mean Gaussian noise; sigma (B,) in 8-bit levels, gray (B,) bool."""
    batch, channels, height, width = images.shape
    scale = (sigma.to(images) / 255.0).view(-1, 1, 1, 1)
    colour = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    mono = torch.randn((batch, 1, height, width), generator=generator, device=images.device, dtype=images.dtype)
    return torch.where(gray.to(images.device).view(-1, 1, 1, 1), mono, colour) * scale


def distinct_levels(images):
    """(B,) number of distinct 8-bit values in each image, without a loop over images."""
    levels = (images.clamp(0, 1) * 255).round().long().flatten(1)
    seen = torch.zeros(levels.shape[0], 256, device=images.device, dtype=torch.bool)
    seen.scatter_(1, levels, True)
    return seen.sum(dim=1)


def _shot_noise(images, generator):
    """Poisson noise whose photon count per level is the next power of two above the image's distinct levels."""
    quantised = (images * 255).round().clamp(0, 255) / 255
    photons = torch.exp2(torch.ceil(torch.log2(distinct_levels(quantised).to(images.dtype)))).view(-1, 1, 1, 1)
    return torch.poisson(quantised * photons, generator=generator) / photons - quantised


def poisson_noise(images, scale, gray, generator):
    """Poisson noise times scale (B,); gray noise is computed on the luma and repeated on every channel."""
    weights = torch.tensor(_LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    luma = (images * weights).sum(dim=1, keepdim=True)
    mono = _shot_noise(luma, generator).expand_as(images)
    colour = _shot_noise(images, generator)
    noise = torch.where(gray.to(images.device).view(-1, 1, 1, 1), mono, colour)
    return noise * scale.to(images).view(-1, 1, 1, 1)
