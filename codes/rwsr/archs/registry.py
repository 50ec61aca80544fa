"""Registered architecture names: what `which_model_G` / `which_model_D` may name besides an import path.

The names are those of the official option files. rwsr.utils.registry resolves them (and import paths);
options/schema.py lists the same names with their keyword arguments for the option reference, and a test
checks that both agree with the constructors below.
"""
from ..utils.registry import Registry
from .discriminators import DiscriminatorVGG128, NLayerDiscriminator
from .rrdbnet import EDLRRDBNet, RRDBNet

GENERATORS = Registry("generator", "network_G.which_model_G", {"RRDBNet": EDLRRDBNet, "RRDB": RRDBNet})
DISCRIMINATORS = Registry("discriminator", "network_D.which_model_D",
                          {"NLayerDiscriminator": NLayerDiscriminator, "discriminator_vgg_128": DiscriminatorVGG128})
