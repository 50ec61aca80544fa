"""Blur kernels of Real-ESRGAN's degradation model (Wang et al., ICCVW 2021, Sec. 3.1).

The public functions are pure: they take every parameter explicitly and return the
normalised kernel. Parameters may be Python numbers (one kernel, float64) or 1-D tensors
of length B (B kernels at once, in the tensors' dtype and device). Coordinates
C = (x, y) run from -(size // 2) to size // 2, x along columns, y along rows.

    Gaussian              k(C) ∝ exp(-1/2 Cᵀ Σ⁻¹ C)
    generalized Gaussian  k(C) ∝ exp(-1/2 (Cᵀ Σ⁻¹ C)^β)
    plateau               k(C) ∝ 1 / (1 + (Cᵀ Σ⁻¹ C)^β)
    sinc                  k(i, j) ∝ ω_c / (2π r) J₁(ω_c r), r = √(i² + j²); ω_c² / (4π) at r = 0

with Σ = R(θ) diag(σ_x², σ_y²) R(θ)ᵀ.
"""
import math

import torch

# Families of `kernel_list` (Real-ESRGAN's names) and the shape function each uses.
KERNEL_FAMILIES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def _as_batch(*values):
    """Broadcast numbers / tensors to 1-D tensors; float64 when no tensor sets the dtype."""
    tensors = [v for v in values if torch.is_tensor(v)]
    dtype = tensors[0].dtype if tensors else torch.float64
    device = tensors[0].device if tensors else None
    out = [v.to(dtype).reshape(-1) if torch.is_tensor(v) else torch.tensor([float(v)], dtype=dtype, device=device)
           for v in values]
    return torch.broadcast_tensors(*out), not tensors


def _grid(size, dtype, device):
    """Column (x) and row (y) coordinates of a size x size kernel centred on 0."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd number, got {size}")
    axis = torch.arange(size, dtype=dtype, device=device) - size // 2
    return axis.view(1, 1, -1), axis.view(1, -1, 1)


def quadratic_form(size, sigma_x, sigma_y, theta):
    """Cᵀ Σ⁻¹ C on the grid, shape (B, size, size): (u/σ_x)² + (v/σ_y)² in coordinates rotated by -θ."""
    x, y = _grid(size, sigma_x.dtype, sigma_x.device)
    cos, sin = torch.cos(theta).view(-1, 1, 1), torch.sin(theta).view(-1, 1, 1)
    u = cos * x + sin * y
    v = -sin * x + cos * y
    return (u / sigma_x.view(-1, 1, 1)) ** 2 + (v / sigma_y.view(-1, 1, 1)) ** 2


def normalise(kernels):
    return kernels / kernels.sum(dim=(-2, -1), keepdim=True)


def _finish(kernels, single):
    kernels = normalise(kernels)
    return kernels[0] if single else kernels


def bivariate_gaussian_kernel(size, sigma_x, sigma_y, theta):
    (sigma_x, sigma_y, theta), single = _as_batch(sigma_x, sigma_y, theta)
    return _finish(torch.exp(-0.5 * quadratic_form(size, sigma_x, sigma_y, theta)), single)


def generalized_gaussian_kernel(size, sigma_x, sigma_y, theta, beta):
    (sigma_x, sigma_y, theta, beta), single = _as_batch(sigma_x, sigma_y, theta, beta)
    form = quadratic_form(size, sigma_x, sigma_y, theta)
    return _finish(torch.exp(-0.5 * form ** beta.view(-1, 1, 1)), single)


def plateau_kernel(size, sigma_x, sigma_y, theta, beta):
    (sigma_x, sigma_y, theta, beta), single = _as_batch(sigma_x, sigma_y, theta, beta)
    form = quadratic_form(size, sigma_x, sigma_y, theta)
    return _finish(1.0 / (1.0 + form ** beta.view(-1, 1, 1)), single)


def sinc_kernel(size, cutoff):
    """Circular low-pass filter with cutoff frequency ω_c (radians; π keeps everything)."""
    (cutoff,), single = _as_batch(cutoff)
    x, y = _grid(size, cutoff.dtype, cutoff.device)
    radius = torch.sqrt(x ** 2 + y ** 2)
    omega = cutoff.view(-1, 1, 1)
    safe = torch.where(radius > 0, radius, torch.ones_like(radius))  # keeps the r = 0 branch finite
    ring = omega * torch.special.bessel_j1(omega * safe) / (2 * math.pi * safe)
    centre = (omega ** 2 / (4 * math.pi)).expand_as(ring)
    return _finish(torch.where(radius > 0, ring, centre), single)


def centre_mask(size, support):
    """(B, size, size) mask of the centred support x support window (support odd, per kernel)."""
    x, y = _grid(size, torch.float32, support.device)
    half = (support.view(-1, 1, 1) // 2).to(torch.float32)
    return (x.abs() <= half) & (y.abs() <= half)


def cropped(kernels, support):
    """Kernels computed on the full grid, cut to each one's support and renormalised.

    Equals computing each kernel at its own size and zero-padding it to the full size."""
    return normalise(kernels * centre_mask(kernels.shape[-1], support).to(kernels.dtype))
