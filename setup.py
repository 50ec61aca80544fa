import re

from setuptools import find_packages, setup

with open("codes/rwsr/__init__.py") as handle:  # the version is written there only
    version = re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M).group(1)

with open("requirements.txt") as handle:
    requirements = [line.strip() for line in handle if line.strip() and not line.startswith("#")]

setup(
    name="rwsr",
    version=version,
    description="Real-world super-resolution by exclusionary dual-learning (RWSR-EDL) in PyTorch",
    package_dir={"": "codes"},
    packages=find_packages("codes"),
    package_data={"rwsr.metrics": ["data/*.npz", "data/*.md"]},
    python_requires=">=3.9",
    install_requires=[r for r in requirements if r not in ("pytest",)],
    extras_require={"dev": ["pytest"]},
    entry_points={
        "console_scripts": [
            "rwsr-train=rwsr.cli.train:main",
            "rwsr-test=rwsr.cli.test:main",
            "rwsr-export-onnx=rwsr.cli.export_onnx:main",
            "rwsr-interpolate=rwsr.cli.interpolate:main",
            "rwsr-create-bicubic-dataset=rwsr.cli.create_bicubic_dataset:main",
            "rwsr-collect-noise=rwsr.cli.collect_noise:main",
            "rwsr-create-lmdb=rwsr.cli.create_lmdb:main",
            "rwsr-ngdc=rwsr.cli.ngdc:main",
        ]
    },
)
