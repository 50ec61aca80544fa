"""RWSR-EDL: real-world super-resolution by exclusionary dual-learning."""

__version__ = "0.1.0"
