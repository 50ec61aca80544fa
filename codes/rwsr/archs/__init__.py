"""Networks: ESRGAN RRDBNet, the RWSR-EDL dual-branch generator, discriminators, VGG/LPIPS."""
from .builders import (GENERATOR_OUTPUTS, build_discriminator, build_generator, generator_arguments, generator_outputs,
                       is_dual_output)
from .discriminators import DiscriminatorVGG128, NLayerDiscriminator
from .registry import DISCRIMINATORS, GENERATORS
from .rrdbnet import EDLRRDBNet, RRDBNet
from .vgg import VGGFeatureExtractor
from ..utils.registry import is_import_path

__all__ = [
    "DISCRIMINATORS", "GENERATORS", "GENERATOR_OUTPUTS", "build_discriminator", "build_generator",
    "generator_arguments", "generator_outputs", "is_dual_output", "is_import_path", "DiscriminatorVGG128",
    "NLayerDiscriminator", "EDLRRDBNet", "RRDBNet", "VGGFeatureExtractor",
]
