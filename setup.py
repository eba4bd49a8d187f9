"""Packaging for speechbrain-wav2small.

The YAML model definitions live at the top of the repository in ``hparams/``
(where recipes refer to them) and are installed inside the package as
``speechbrain_wav2small/hparams`` so that inference and the CLI find them in a
non-editable install too.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"',
    (HERE / "speechbrain_wav2small" / "version.py").read_text(),
).group(1)

setup(
    name="speechbrain-wav2small",
    version=VERSION,
    description=(
        "Distil large speech-emotion teachers into tiny Wav2Small and "
        "MobileNet students (arousal, dominance, valence) with SpeechBrain."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["speechbrain_wav2small*"])
    + ["speechbrain_wav2small.hparams"],
    package_dir={"speechbrain_wav2small.hparams": "hparams"},
    package_data={
        "speechbrain_wav2small.hparams": ["*.yaml", "*/*.yaml"],
        "speechbrain_wav2small.data": ["speech/*.wav", "speech/*.md"],
        "speechbrain_wav2small.packaging": ["templates/*"],
        # The live page (wav2small serve-web) and, once `make web` has
        # built it, its onnxruntime-web files.
        "speechbrain_wav2small": [
            "web/*.html",
            "web/*.js",
            "web/*.css",
            "web/*.json",
            "web/vendor-files.txt",
            "web/vendor/*",
        ],
    },
    install_requires=[
        "torch>=2.4",
        "torchaudio>=2.4",
        "speechbrain>=1.1.2,<1.2",
        "transformers>=4.40",
        "timm>=1.0.9",
        "onnx>=1.16",
        "onnxruntime>=1.18",
        "onnxscript>=0.1",
        "huggingface_hub>=0.23",
        "soundfile>=0.12",
        "soxr>=0.3",
        "safetensors>=0.4",
        "numpy",
        "tqdm",
        "matplotlib",
    ],
    extras_require={
        "dev": ["pytest", "ruff"],
        # wav2small stream --mic: the PortAudio binding (and PortAudio).
        "live": ["sounddevice>=0.4"],
    },
    entry_points={
        "console_scripts": ["wav2small=speechbrain_wav2small.cli:main"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
