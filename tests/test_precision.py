"""Mixed precision on the CPU: bf16 autocast against float32, on real speech.

Every student and teacher kind is fitted (BatchNorm statistics and a ridge
head, see ``benchmarks/precision.py``) on windows of the speech shipped
with the package, so that its outputs spread across clips as a trained
model's do, then run in float32 and under ``torch.autocast("cpu",
dtype=torch.bfloat16)``. The windows are short and few because a CPU
without native bf16 runs bf16 convolutions through a slow reference path
(10-20 times slower than float32 here); ``benchmarks/precision.py`` gives
the same figures on all the shipped speech.

Also: the labeller's ``precision`` option, its refusals, and the cache's
record of the precision it was labelled at.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_wav2small.cli import main as cli_main
from speechbrain_wav2small.dataio.reference_speech import (
    reference_speech_clips,
)
from speechbrain_wav2small.labelling import (
    PseudoLabeller,
    StaleCacheError,
    cache_paths,
    folder_items,
    read_label_cache,
)
from speechbrain_wav2small.lobes.frontend import LogMelFrontEnd
from speechbrain_wav2small.objectives import ccc_loss
from speechbrain_wav2small.students import STUDENTS
from speechbrain_wav2small.teachers import save_teacher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import precision  # noqa: E402

TEACHER_KINDS = ("dawn", "wavlm_odyssey", "ensemble")

#: Eight 0.5 s windows spread over the six shipped recordings.
_WINDOWS = reference_speech_clips(window=0.5, hop=1.0)
CLIPS = [_WINDOWS[i] for i in np.linspace(0, len(_WINDOWS) - 1, 8).astype(int)]

#: Tolerances of bf16 autocast against float32: (largest absolute output
#: difference, smallest CCC(bf16, fp32) of the three dimensions), on the
#: 0..1 label scale. Measured here on CLIPS with the fitted models of these
#: tests, worst dimension, with one and with two threads (the worst of the
#: two is in each comment), then given twice the room: the difference
#: doubled and rounded up, 1 - CCC doubled and rounded down.
#: Students end in a bf16 linear head, whose outputs are rounded to steps
#: of 2**-8 (0.004 near 0.5), and the deep MobileNets accumulate more bf16
#: noise than Wav2Small. Teachers pool and regress in float32, so only
#: their backbone's rounding shows.
TOLERANCES = {
    "wav2small": (0.01, 0.998),  # 0.0046, 0.99947
    "wav2small_72k": (0.01, 0.998),  # 0.0030, 0.99988 (26-band definition)
    "mobilenetv4_conv_small": (0.03, 0.99),  # 0.0152, 0.99658
    "mobilenetv4_conv_medium": (0.055, 0.985),  # 0.0267, 0.99290
    "mobilenetv3_small": (0.06, 0.985),  # 0.0284, 0.99401
    "mobilenetv3_large": (0.03, 0.99),  # 0.0146, 0.99697
    "dawn": (0.006, 0.9995),  # 0.0026, 0.99982
    "wavlm_odyssey": (0.012, 0.998),  # 0.0059, 0.99942
    "ensemble": (0.006, 0.999),  # 0.0030, 0.99970
}


@pytest.fixture(scope="module")
def wavs():
    """The windows as one float32 batch."""
    return torch.from_numpy(np.stack(CLIPS))


@pytest.mark.parametrize("name", [*STUDENTS, *TEACHER_KINDS])
def test_bf16_autocast_stays_close_to_fp32(name, wavs):
    model = precision.fitted_model(name, CLIPS, teacher_size="tiny")
    report = precision.compare(model, wavs)
    max_difference, min_ccc = TOLERANCES[name]
    print(
        f"{name}: max |bf16 - fp32| {report['worst_max_abs_difference']:.4f}"
        f", min CCC {report['min_ccc']:.5f}"
    )
    # Fitted outputs vary across clips, or CCC would measure noise only.
    assert min(report["fp32_output_std"].values()) > 0.01
    assert report["worst_max_abs_difference"] <= max_difference
    assert report["min_ccc"] >= min_ccc
    # Padded batches take the masked paths (what the labeller runs).
    lengths = torch.tensor([1.0, 0.6])
    with torch.inference_mode():
        reference = model(wavs[:2], lengths)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(wavs[:2], lengths)
    assert (low.float() - reference).abs().max() <= max_difference


def test_front_end_ignores_autocast(wavs):
    front_end = LogMelFrontEnd(n_fft=144, hop_length=72, n_mels=64)
    reference, frames = front_end(wavs, torch.ones(len(wavs)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features, low_frames = front_end(wavs, torch.ones(len(wavs)))
        from_bf16_input, _ = front_end(wavs.bfloat16())
    assert features.dtype == from_bf16_input.dtype == torch.float32
    assert torch.equal(features, reference) and torch.equal(frames, low_frames)
    # Input rounded to bf16, but no bf16 arithmetic: small error only.
    assert (from_bf16_input - reference).abs().mean() < 0.5


def test_ccc_loss_computes_in_float32():
    torch.manual_seed(0)
    targets = torch.rand(64, 3)
    predictions = (0.8 * targets + 0.05 * torch.randn(64, 3)).bfloat16()
    predictions.requires_grad_(True)
    expected = ccc_loss(predictions.detach().float(), targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = ccc_loss(predictions, targets)
    assert loss.dtype == torch.float32
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert predictions.grad.dtype == torch.bfloat16


# ---------------------------------------------------------------------------
# The labeller


@pytest.fixture(scope="module")
def teacher():
    """A tiny Odyssey teacher with a fitted head."""
    return precision.fitted_model("wavlm_odyssey", CLIPS, teacher_size="tiny")


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """Five 1 s windows of the shipped speech as WAV files."""
    folder = tmp_path_factory.mktemp("audio")
    for index, clip in enumerate(reference_speech_clips(hop=1.0)[::3][:5]):
        sf.write(folder / f"clip{index}.wav", clip, 16000, subtype="FLOAT")
    return folder


def _labels(out):
    """The labels of a cache, as an array [clips, 3] in ID order."""
    cache = read_label_cache(out)["labels"]
    return np.array([cache[key]["labels"] for key in sorted(cache)])


def test_bf16_labels_are_float32_within_tolerance(teacher, audio, tmp_path):
    labels = {}
    for name in ("fp32", "bf16"):
        out = tmp_path / f"{name}.csv"
        labeller = PseudoLabeller(teacher, progress=False, precision=name)
        assert labeller.label(folder_items(audio), out)["labelled"] == 5
        sidecar = json.loads(cache_paths(out)["sidecar"].read_text())
        assert sidecar["precision"] == name
        labels[name] = _labels(out)
    wavs, lengths = torch.from_numpy(np.stack(CLIPS[:2])), torch.ones(2)
    assert labeller._forward(wavs, lengths).dtype == torch.float32
    difference = np.abs(labels["bf16"] - labels["fp32"]).max()
    assert 0 < difference <= TOLERANCES["wavlm_odyssey"][0]


def test_fp16_on_cpu_and_unknown_precisions_are_refused(
    teacher, audio, tmp_path, capsys
):
    with pytest.raises(ValueError, match="fp16.*not yet supported on CPU"):
        PseudoLabeller(teacher, precision="fp16")
    with pytest.raises(ValueError, match="fp16.*not yet supported on CPU"):
        PseudoLabeller(teacher, device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="expected one of"):
        PseudoLabeller(teacher, precision="float16")
    out = tmp_path / "labels.csv"
    # Refused before the teacher is loaded: "dawn" would need the hub.
    status = cli_main(
        ["label", "--teacher", "dawn", "--audio-dir", str(audio)]
        + ["--out", str(out), "--precision", "fp16", "--no_progress"]
    )
    assert status == 1
    assert "not yet supported on CPU" in capsys.readouterr().err
    assert not out.exists()


def test_a_cache_is_resumed_at_its_own_precision_only(teacher, audio, tmp_path):
    out = tmp_path / "labels.csv"
    items = folder_items(audio)
    bf16 = PseudoLabeller(teacher, progress=False, precision="bf16")
    bf16.label(items[:3], out)
    fp32 = PseudoLabeller(teacher, progress=False)
    # Two clips left to label at another precision: refused.
    with pytest.raises(StaleCacheError) as refusal:
        fp32.label(items, out)
    message = str(refusal.value)
    assert str(out) in message and "bf16" in message and "fp32" in message
    # Nothing left to label: the cache is used as it was made.
    assert fp32.label(items[:3], out)["already_done"] == 3
    sidecar_path = cache_paths(out)["sidecar"]
    assert json.loads(sidecar_path.read_text())["precision"] == "bf16"
    assert bf16.label(items, out)["already_done"] == 3
    # A sidecar written before the field existed means fp32.
    sidecar = json.loads(sidecar_path.read_text())
    del sidecar["precision"]
    sidecar_path.write_text(json.dumps(sidecar))
    assert fp32.label(items, out)["already_done"] == 5
    (audio / "clip0.wav").rename(audio / "clip9.wav")
    try:
        with pytest.raises(StaleCacheError, match="fp32.*bf16"):
            bf16.label(folder_items(audio), out)
    finally:
        (audio / "clip9.wav").rename(audio / "clip0.wav")


def test_cli_passes_the_precision_through(teacher, audio, tmp_path, capsys):
    folder = save_teacher(teacher, tmp_path / "teacher")
    out = tmp_path / "labels.csv"
    arguments = ["label", "--teacher", "wavlm_odyssey", "--teacher_source"]
    arguments += [str(folder), "--audio-dir", str(audio), "--out", str(out)]
    assert cli_main(arguments + ["--precision", "bf16", "--no_progress"]) == 0
    sidecar = json.loads(cache_paths(out)["sidecar"].read_text())
    assert sidecar["precision"] == "bf16" and sidecar["n_labels"] == 5
    # Rerun without --precision (fp32): nothing to add, the cache stands.
    assert cli_main(arguments + ["--no_progress"]) == 0
    sidecar = json.loads(cache_paths(out)["sidecar"].read_text())
    assert sidecar["precision"] == "bf16"
    # A new clip to label at fp32: refused, naming both precisions.
    (audio / "clip0.wav").rename(audio / "clip9.wav")
    try:
        assert cli_main(arguments + ["--no_progress"]) == 1
    finally:
        (audio / "clip9.wav").rename(audio / "clip0.wav")
    error = capsys.readouterr().err
    assert "bf16" in error and "fp32" in error and str(out) in error
