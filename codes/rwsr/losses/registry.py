"""Registered loss names: what `train.losses[].type` may name besides an import path, and the names the
models build their own terms (the official flat keys pixel_weight, feature_weight, ...) with.

`gan` is built from train.gan_type for the discriminator; it is no loss(output, gt) and so no train.losses
type. options/schema.py lists the others with their keyword arguments (checked by tests/test_registry.py).
"""
from ..utils.registry import Registry
from .exclusion import ExclusionLoss
from .gan import GANLoss
from .perceptual import FeatureLoss, LPIPSLoss
from .pixel import PixelLoss

LOSSES = Registry("loss", "train.losses[].type", {"pixel": PixelLoss, "feature": FeatureLoss, "lpips": LPIPSLoss,
                                                  "gan": GANLoss, "exclusion": ExclusionLoss})
