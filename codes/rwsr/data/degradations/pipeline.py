"""Real-ESRGAN's second-order degradation of a training batch, on the training device.

    blur -> resize -> Gaussian or Poisson noise -> JPEG            (first order)
    [blur] -> resize -> noise -> {resize back + sinc, JPEG} in random order   (second order)

`draw_plan` makes every random choice of one batch (from a CPU generator) and `apply`
carries it out (pixel noise from a generator on the batch's device), so the statistics of
the choices can be checked without touching images. Both generators and the queue are in
`state_dict`, which the training state saves: a resumed run degrades exactly as the
uninterrupted one.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

from .filters import filter_per_image, usm_sharpen
from .jpeg import jpeg
from .noise import gaussian_noise, poisson_noise
from .random_kernels import BlurSettings, draw_blur_kernels, draw_final_sinc

RESIZE_KINDS = ("up", "down", "keep")
RESIZE_MODES = ("area", "bilinear", "bicubic")
# Offset between the training seed and the degradation's generators, so that they do not
# repeat the streams of the noise pool, which starts from the same seed.
_SEED_OFFSET = 0x5EED_D364


@dataclass(frozen=True)
class StageSettings:
    """Resize, noise and JPEG of one order (`resize_prob`, ... or `resize_prob2`, ...)."""
    resize_prob: Tuple[float, float, float]
    resize_range: Tuple[float, float]
    gaussian_noise_prob: float
    noise_range: Tuple[float, float]
    poisson_scale_range: Tuple[float, float]
    gray_noise_prob: float
    jpeg_range: Tuple[float, float]


@dataclass(frozen=True)
class DegradationSettings:
    blur1: BlurSettings
    blur2: BlurSettings
    final_sinc_prob: float
    stage1: StageSettings
    stage2: StageSettings
    second_blur_prob: float
    scale: int
    gt_usm: bool = False
    gt_size: Optional[int] = None   # HR crop after the degradation; None keeps the whole input


@dataclass
class StagePlan:
    resize: str            # up, down or keep
    resize_factor: float
    resize_mode: str
    gaussian: bool         # Gaussian noise, else Poisson
    noise_strength: torch.Tensor   # (B,) sigma (8-bit levels) or Poisson scale
    gray: torch.Tensor             # (B,) bool
    jpeg_quality: torch.Tensor     # (B,)


@dataclass
class DegradationPlan:
    kernel1: torch.Tensor
    kinds1: List[str]              # kernel family per image, or "sinc"
    kernel2: torch.Tensor
    kinds2: List[str]
    sinc: torch.Tensor
    final_sinc: torch.Tensor       # (B,) bool: the sinc filter is not a pulse
    stage1: StagePlan
    second_blur: bool
    stage2: StagePlan
    sinc_before_jpeg: bool
    resize_back_mode: str
    crop: Optional[Tuple[int, int]]  # top-left of the final crop, LR pixels


def _uniform(generator, count, low, high):
    return low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64)


def _chance(generator, probability):
    return bool(torch.rand(1, generator=generator, dtype=torch.float64).item() < probability)


def _pick(generator, options):
    return options[int(torch.randint(len(options), (1,), generator=generator).item())]


def draw_stage(stage, count, generator):
    kind = RESIZE_KINDS[int(torch.multinomial(torch.tensor(stage.resize_prob, dtype=torch.float64), 1,
                                              generator=generator).item())]
    low, high = stage.resize_range
    factor = {"up": (1.0, high), "down": (low, 1.0), "keep": (1.0, 1.0)}[kind]
    resize_factor = float(_uniform(generator, 1, *factor).item())
    mode = _pick(generator, RESIZE_MODES)
    gaussian = _chance(generator, stage.gaussian_noise_prob)
    strength = _uniform(generator, count, *(stage.noise_range if gaussian else stage.poisson_scale_range))
    gray = torch.rand(count, generator=generator, dtype=torch.float64) < stage.gray_noise_prob
    quality = _uniform(generator, count, *stage.jpeg_range)
    return StagePlan(kind, resize_factor, mode, gaussian, strength, gray, quality)


class SecondOrderDegradation:
    """HR batch -> (LR batch, HR target), every random number from this object's generators."""

    def __init__(self, settings, device, seed):
        self.settings = settings
        self.device = torch.device(device)
        self.seed = (int(seed or 0) + _SEED_OFFSET) % 2**63
        self.draws = torch.Generator()
        self.pixels = torch.Generator(device=self.device)
        self.reseed()

    def reseed(self):
        self.draws.manual_seed(self.seed)
        self.pixels.manual_seed(self.seed + 1)

    # ------------------------------------------------------------ choices
    def draw_plan(self, count, height, width):
        s, gen = self.settings, self.draws
        kernel1, kinds1 = draw_blur_kernels(s.blur1, count, gen, self.device)
        kernel2, kinds2 = draw_blur_kernels(s.blur2, count, gen, self.device)
        sinc, final_sinc = draw_final_sinc(s.final_sinc_prob, count, gen, self.device)
        stage1 = draw_stage(s.stage1, count, gen)
        second_blur = _chance(gen, s.second_blur_prob)
        stage2 = draw_stage(s.stage2, count, gen)
        sinc_before_jpeg = _chance(gen, 0.5)
        resize_back_mode = _pick(gen, RESIZE_MODES)
        crop = None
        if s.gt_size is not None and s.gt_size < min(height, width):
            lr_size = s.gt_size // s.scale
            top = int(torch.randint(height // s.scale - lr_size + 1, (1,), generator=gen).item())
            left = int(torch.randint(width // s.scale - lr_size + 1, (1,), generator=gen).item())
            crop = (top, left)
        return DegradationPlan(kernel1, kinds1, kernel2, kinds2, sinc, final_sinc, stage1, second_blur, stage2,
                               sinc_before_jpeg, resize_back_mode, crop)

    # ------------------------------------------------------------ images
    def _noise(self, images, stage):
        noise = gaussian_noise if stage.gaussian else poisson_noise
        return (images + noise(images, stage.noise_strength, stage.gray, self.pixels)).clamp(0, 1)

    @staticmethod
    def _resize(images, size, mode):
        size = (max(1, size[0]), max(1, size[1]))
        if mode == "area":
            return F.interpolate(images, size=size, mode="area")
        return F.interpolate(images, size=size, mode=mode, align_corners=False)

    def _resize_back_and_sinc(self, images, plan, lr_size):
        return filter_per_image(self._resize(images, lr_size, plan.resize_back_mode), plan.sinc)

    def apply(self, gt, plan):
        """gt (B, 3, H, W) in [0, 1] on the device -> (lq quantised to 8 bits, target), cropped as planned."""
        s = self.settings
        height, width = gt.shape[-2:]
        lr_size = (height // s.scale, width // s.scale)
        out = filter_per_image(gt, plan.kernel1)
        first = plan.stage1
        out = self._resize(out, (int(height * first.resize_factor), int(width * first.resize_factor)),
                           first.resize_mode)
        out = jpeg(self._noise(out, first), first.jpeg_quality)
        if plan.second_blur:
            out = filter_per_image(out, plan.kernel2)
        second = plan.stage2
        out = self._resize(out, (int(height / s.scale * second.resize_factor),
                                 int(width / s.scale * second.resize_factor)), second.resize_mode)
        out = self._noise(out, second)
        if plan.sinc_before_jpeg:
            out = jpeg(self._resize_back_and_sinc(out, plan, lr_size), second.jpeg_quality)
        else:
            out = self._resize_back_and_sinc(jpeg(out, second.jpeg_quality), plan, lr_size)
        lq = (out * 255).round().clamp(0, 255) / 255
        target = usm_sharpen(gt) if s.gt_usm else gt
        if plan.crop is not None:
            top, left, size = plan.crop[0], plan.crop[1], s.gt_size // s.scale
            lq = lq[..., top:top + size, left:left + size]
            target = target[..., top * s.scale:(top + size) * s.scale, left * s.scale:(left + size) * s.scale]
        return lq.contiguous(), target.contiguous()

    @torch.no_grad()
    def __call__(self, gt):
        return self.apply(gt, self.draw_plan(gt.shape[0], *gt.shape[-2:]))

    # ------------------------------------------------------------ training state
    def state_dict(self):
        return {"draws": self.draws.get_state(), "pixels": self.pixels.get_state(), "device_type": self.device.type}

    def load_state_dict(self, state):
        self.draws.set_state(state["draws"].cpu())
        if state.get("device_type") == self.device.type:
            self.pixels.set_state(state["pixels"].cpu())
        else:  # a CUDA generator state means nothing to a CPU generator and vice versa
            self.pixels.manual_seed(self.seed + 1)
