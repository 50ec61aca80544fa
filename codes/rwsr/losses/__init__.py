"""Losses: pixel, VGG feature / LPIPS, adversarial (+ gradient penalty), exclusionary gradients."""
from .exclusion import ExclusionLoss
from .gan import GAN_TYPES, GANLoss, gradient_penalty
from .perceptual import FeatureLoss, LPIPSLoss
from .pixel import PIXEL_CRITERIA, PixelLoss
from .registry import LOSSES

__all__ = ["ExclusionLoss", "GAN_TYPES", "GANLoss", "gradient_penalty", "FeatureLoss", "LPIPSLoss",
           "PIXEL_CRITERIA", "PixelLoss",
           "LOSSES"]
