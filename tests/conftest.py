"""Shared fixtures: real speech from tests/data, small synthetic signals
and the distillation recipe's module."""

import importlib.util
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

DATA = Path(__file__).parent / "data"
DISTILL_RECIPE = (
    Path(__file__).parents[1] / "recipes" / "MSP-Podcast" / "distill"
)
SPEECH_16K = ("ASR_spk1_snt1.wav", "ASR_spk2_snt1.wav", "ASR_spk1_snt3.wav")

# Under `make test` two pytest workers share the machine's two cores: one
# intra-op thread each keeps them from oversubscribing it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_quiet():
    torch.manual_seed(0)
    np.random.seed(0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*mel filterbank.*zero")
        yield


def read_speech(name):
    """A real 16 kHz recording as a float32 tensor [time]."""
    samples, rate = sf.read(DATA / name, dtype="float32")
    assert rate == 16000
    return torch.from_numpy(samples)


@pytest.fixture(scope="session")
def speech_clips():
    """Three real utterances of different lengths (about 2-3 s)."""
    return [read_speech(name) for name in SPEECH_16K]


def pad_batch(clips):
    """Zero-pads clips into [batch, time] with SpeechBrain relative lengths."""
    longest = max(len(c) for c in clips)
    wavs = torch.zeros(len(clips), longest)
    for row, clip in enumerate(clips):
        wavs[row, : len(clip)] = clip
    lengths = torch.tensor([len(c) / longest for c in clips])
    return wavs, lengths


def randomize_batch_norm(model):
    """Non-trivial BatchNorm statistics and affines (in place), so that
    masking or folding mistakes show in a model's outputs."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model


@pytest.fixture(scope="module")
def distill_recipe():
    """The distillation recipe's ``train.py`` as a module (its functions,
    not its run, which ``__main__`` guards)."""
    sys.path.insert(0, str(DISTILL_RECIPE))
    try:
        spec = importlib.util.spec_from_file_location(
            "distill_train", DISTILL_RECIPE / "train.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(DISTILL_RECIPE))
    return module
