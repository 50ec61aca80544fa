"""Networks: ESRGAN RRDBNet, the RWSR-EDL dual-branch generator, discriminators, VGG/LPIPS."""
from .builders import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator, generator_outputs
from .discriminators import DiscriminatorVGG128, NLayerDiscriminator
from .rrdbnet import EDLRRDBNet, RRDBNet
from .vgg import VGGFeatureExtractor

__all__ = [
    "DISCRIMINATORS", "GENERATORS", "build_discriminator", "build_generator", "generator_outputs",
    "DiscriminatorVGG128", "NLayerDiscriminator", "EDLRRDBNet", "RRDBNet", "VGGFeatureExtractor",
]
