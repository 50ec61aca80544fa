"""Random blur and sinc kernels for a batch, drawn as Real-ESRGAN draws them.

Every random number comes from one torch.Generator (`draws`, on the CPU); the same
number of values is drawn for every batch whatever is chosen, so a saved generator state
reproduces the following batches exactly. The kernels themselves are computed with the
pure functions of `kernels`, all families at once on the training device.
"""
import math
from dataclasses import dataclass
from typing import Tuple

import torch

from .kernels import KERNEL_FAMILIES, cropped, quadratic_form, sinc_kernel

# Real-ESRGAN draws the actual support among the odd sizes from 7 up to the padded size.
SMALLEST_SUPPORT = 7
# Below this support the sinc cutoff is drawn from [π/3, π], from [π/5, π] otherwise.
WIDE_SUPPORT = 13
FINAL_SINC_SIZE = 21


@dataclass(frozen=True)
class BlurSettings:
    """One blur stage: the dataset keys `blur_kernel_size`, `kernel_list`, ... (or their `2` versions)."""
    size: int
    families: Tuple[str, ...]
    probabilities: Tuple[float, ...]
    sinc_prob: float
    sigma: Tuple[float, float]
    betag: Tuple[float, float]
    betap: Tuple[float, float]


def _uniform(generator, count, low, high):
    return low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64)


def _supports(generator, count, largest):
    choices = (largest - SMALLEST_SUPPORT) // 2 + 1
    return SMALLEST_SUPPORT + 2 * torch.randint(choices, (count,), generator=generator)


def _split_beta(generator, count, low, high):
    """Half the draws below 1, half above, as Real-ESRGAN (so both shapes are equally likely)."""
    below = torch.rand(count, generator=generator, dtype=torch.float64) < 0.5
    return torch.where(below, _uniform(generator, count, low, 1.0), _uniform(generator, count, 1.0, high))


def _sinc_cutoffs(generator, supports):
    narrow = _uniform(generator, len(supports), math.pi / 3, math.pi)
    wide = _uniform(generator, len(supports), math.pi / 5, math.pi)
    return torch.where(supports < WIDE_SUPPORT, narrow, wide)


def draw_blur_kernels(settings, count, generator, device, dtype=torch.float32):
    """((count, size, size) kernels, their kinds): a sinc filter with sinc_prob, else a family of `kernel_list`."""
    supports = _supports(generator, count, settings.size)
    use_sinc = torch.rand(count, generator=generator, dtype=torch.float64) < settings.sinc_prob
    cutoffs = _sinc_cutoffs(generator, supports)
    weights = torch.tensor(settings.probabilities, dtype=torch.float64)
    family_index = torch.multinomial(weights, count, replacement=True, generator=generator)
    names = [settings.families[i] for i in family_index.tolist()]
    sigma_x = _uniform(generator, count, *settings.sigma)
    sigma_y = _uniform(generator, count, *settings.sigma)
    theta = _uniform(generator, count, -math.pi, math.pi)
    betag = _split_beta(generator, count, *settings.betag)
    betap = _split_beta(generator, count, *settings.betap)
    isotropic = torch.tensor([not name.endswith("aniso") for name in names])
    sigma_y = torch.where(isotropic, sigma_x, sigma_y)
    theta = torch.where(isotropic, torch.zeros_like(theta), theta)
    shape = torch.tensor([KERNEL_FAMILIES.index(name) // 2 for name in names])  # 0 Gaussian, 1 generalized, 2 plateau
    beta = torch.where(shape == 2, betap, betag)

    def put(values):
        return values.to(device=device, dtype=dtype)

    form = quadratic_form(settings.size, put(sigma_x), put(sigma_y), put(theta))
    beta_view = put(beta).view(-1, 1, 1)
    shape_view = shape.to(device).view(-1, 1, 1)
    powered = form ** beta_view
    kernels = torch.where(shape_view == 0, torch.exp(-0.5 * form),
                          torch.where(shape_view == 1, torch.exp(-0.5 * powered), 1.0 / (1.0 + powered)))
    kernels = torch.where(put(use_sinc).bool().view(-1, 1, 1), sinc_kernel(settings.size, put(cutoffs)), kernels)
    kinds = ["sinc" if sinc else name for sinc, name in zip(use_sinc.tolist(), names)]
    return cropped(kernels, supports.to(device)), kinds


def pulse(count, size, device, dtype=torch.float32):
    """Kernels that leave an image unchanged."""
    kernels = torch.zeros(count, size, size, device=device, dtype=dtype)
    kernels[:, size // 2, size // 2] = 1.0
    return kernels


def draw_final_sinc(probability, count, generator, device, dtype=torch.float32):
    """(kernels, applied): a sinc filter (cutoff in [π/3, π]) with `final_sinc_prob`, else a pulse."""
    applied = torch.rand(count, generator=generator, dtype=torch.float64) < probability
    supports = _supports(generator, count, FINAL_SINC_SIZE)
    cutoffs = _uniform(generator, count, math.pi / 3, math.pi)
    kernels = cropped(sinc_kernel(FINAL_SINC_SIZE, cutoffs.to(device=device, dtype=dtype)), supports.to(device))
    kernels = torch.where(applied.to(device).view(-1, 1, 1), kernels, pulse(count, FINAL_SINC_SIZE, device, dtype))
    return kernels, applied
