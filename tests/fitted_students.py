"""Students whose outputs vary with the speech, for export and packaging tests.

A freshly initialised student predicts almost the same numbers for every
clip, which makes an int8-vs-float CCC meaningless (quantisation noise is
then most of the variance). Training one takes minutes; instead,
:func:`fit_student` gives it BatchNorm statistics measured on real speech
and a ridge-regression head onto three acoustic descriptors (zero-crossing
rate, spectral centroid, low-band energy share), so its predictions spread
across clips as a trained model's do. Deterministic for a given seed.

Also: crops of the real recordings in tests/data, and a packaged Wav2Small
folder built once per test session through ``wav2small package``.
"""

import atexit
import copy
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

DATA = Path(__file__).parent / "data"
SPEECH = ("ASR_spk1_snt1.wav", "ASR_spk2_snt1.wav", "ASR_spk1_snt3.wav")

_CACHE = {}


def speech_crops(per_clip=16, seed=0, longest=2.0):
    """Random crops (0.5 s to ``longest`` s) of the real 16 kHz speech, with
    random gain and a little noise: float32 arrays."""
    rng = np.random.default_rng(seed)
    crops = []
    for name in SPEECH:
        clip, rate = sf.read(DATA / name, dtype="float32")
        assert rate == 16000
        for _ in range(per_clip):
            length = int(rng.integers(8000, min(len(clip), longest * rate)))
            start = int(rng.integers(0, len(clip) - length + 1))
            crop = clip[start : start + length] * rng.uniform(0.1, 2.0)
            crop += rng.normal(0, rng.uniform(0.0, 0.05), length)
            crops.append(crop.astype(np.float32))
    return crops


def descriptors(clip):
    """Zero-crossing rate, spectral centroid and low-band energy share."""
    spectrum = np.abs(np.fft.rfft(clip))
    bins = np.arange(len(spectrum))
    return [
        np.mean(np.abs(np.diff(np.sign(clip)))) / 2,
        (spectrum * bins).sum() / spectrum.sum() / len(spectrum),
        spectrum[: len(spectrum) // 8].sum() / spectrum.sum(),
    ]


def fit_student(model, head, clips, ridge=10.0):
    """BatchNorm statistics from ``clips``, then a ridge head (in place)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the clips
    model.train()
    with torch.no_grad():
        for clip in clips[::2]:
            model(torch.from_numpy(clip)[None])
    model.eval()
    features = []
    hook = head.register_forward_hook(
        lambda module, inputs, output: features.append(inputs[0])
    )
    with torch.no_grad():
        for clip in clips:
            model(torch.from_numpy(clip)[None])
    hook.remove()
    x = torch.cat(features).double().numpy()
    y = np.array([descriptors(clip) for clip in clips])
    y = (y - y.mean(0)) / y.std(0) * 0.1 + 0.5
    x_mean = x.mean(0)
    centered = x - x_mean
    gram = centered.T @ centered
    penalty = ridge * np.trace(gram) / gram.shape[0]
    weights = np.linalg.solve(
        gram + penalty * np.eye(gram.shape[0]), centered.T @ (y - y.mean(0))
    )
    head.weight.data = torch.tensor(weights.T, dtype=torch.float32)
    head.bias.data = torch.tensor(y.mean(0) - x_mean @ weights).float()
    return model


def fitted_student(name="wav2small", seed=0):
    """A fitted student (see module docstring), built from its YAML.

    Fitted once per session; every call returns a fresh copy.
    """
    from speechbrain_wav2small.students import build_student

    key = ("student", name, seed)
    if key not in _CACHE:
        torch.manual_seed(seed)
        model = build_student(name)
        clips = speech_crops(per_clip=8, seed=seed)
        _CACHE[key] = fit_student(model, model.head, clips)
    return copy.deepcopy(_CACHE[key])


def held_out_clips(count=24, seed=1):
    """Crops never used for fitting (another seed)."""
    return speech_crops(per_clip=(count + 2) // 3, seed=seed)[:count]


def temporary_folder(prefix):
    """A folder removed when the test session ends."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def write_clips(folder, clips, rate=16000):
    """Writes clips as 16-bit WAV files; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, clip in enumerate(clips):
        path = folder / f"clip_{index:03d}.wav"
        sf.write(path, clip, rate, subtype="PCM_16")
        paths.append(path)
    return paths


def packaged_wav2small():
    """A Wav2Small checkpoint packaged through the CLI, built once.

    Returns a dict: ``model`` (the fitted student), ``checkpoint`` (a
    SpeechBrain Checkpointer folder), ``package`` (the packaged folder),
    ``results`` (the results dict given to the card), ``held_out``
    (folder of held-out WAV files), ``status`` (CLI exit status).
    """
    if "package" in _CACHE:
        return _CACHE["package"]
    from speechbrain.utils.checkpoints import Checkpointer

    from speechbrain_wav2small.cli import main

    root = temporary_folder("w2s_package_")
    model = fitted_student("wav2small")
    checkpointer = Checkpointer(root / "save", recoverables={"model": model})
    checkpoint = checkpointer.save_checkpoint()
    held_out = root / "held out"
    write_clips(held_out, held_out_clips())
    results = {
        "test1": {
            "ccc_vs_human": {
                "arousal": 0.61,
                "dominance": 0.52,
                "valence": 0.33,
            },
            "ccc_vs_teacher": {
                "arousal": 0.91,
                "dominance": 0.87,
                "valence": 0.79,
            },
        },
        "int8_ccc": {"arousal": 0.9999, "dominance": 0.9999, "valence": 0.9999},
    }
    results_file = root / "results.json"
    results_file.write_text(json.dumps(results))
    package = root / "package"
    status = main(
        [
            "package",
            "--checkpoint",
            str(checkpoint.path),
            "--student",
            "wav2small",
            "--out",
            str(package),
            "--results",
            str(results_file),
            "--teacher-fingerprint",
            "sha256:0123456789abcdef",
            "--teacher",
            "test teacher",
            "--held-out",
            str(held_out),
            "--repo-id",
            "someone/wav2small-test",
        ]
    )
    _CACHE["package"] = {
        "model": model,
        "checkpoint": Path(checkpoint.path),
        "package": package,
        "results": results,
        "held_out": held_out,
        "status": status,
    }
    return _CACHE["package"]
