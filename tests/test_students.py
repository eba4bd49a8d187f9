"""The student contract, for all six YAML presets, on real speech."""

import pytest
import torch
from conftest import pad_batch, randomize_batch_norm

from speechbrain_wav2small.students import (
    STUDENTS,
    build_student,
    student_hparams_file,
)
from speechbrain_wav2small.utils.complexity import count_parameters

# Trainable parameters with a 1-channel stem and 3 outputs.
EXPECTED_PARAMETERS = {
    "wav2small": 10_806,
    "wav2small_72k": 70_383,
    "mobilenetv4_conv_small": 2_496_291,
    "mobilenetv4_conv_medium": 8_437_779,
    "mobilenetv3_small": 1_520_643,
    "mobilenetv3_large": 4_205_587,
}
MOBILENETS = [name for name in STUDENTS if name.startswith("mobilenet")]


@pytest.fixture(scope="module")
def students():
    torch.manual_seed(0)
    return {name: build_student(name).eval() for name in STUDENTS}


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMETERS))
def test_parameter_counts(students, name):
    assert count_parameters(students[name]) == EXPECTED_PARAMETERS[name]


def test_paper_size_wav2small_is_72k_within_three_percent(students):
    # The paper's widths are unpublished: 34 channels on the release's
    # 26-band front end is the nearest whole width to its 72K.
    assert abs(count_parameters(students["wav2small_72k"]) - 72_000) <= 2160


@pytest.mark.parametrize("name", list(STUDENTS))
def test_contract_shape_dtype_and_determinism(students, name, speech_clips):
    model = students[name]
    wavs, lengths = pad_batch(speech_clips)
    with torch.no_grad():
        first = model(wavs, lengths)
        second = model(wavs, lengths)
    assert first.shape == (3, 3) and first.dtype == torch.float32
    assert torch.isfinite(first).all()
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", ["wav2small", "wav2small_72k"])
def test_wav2small_padded_batch_equals_clips_alone(name, speech_clips):
    model = randomize_batch_norm(build_student(name).eval())
    wavs, lengths = pad_batch(speech_clips)
    with torch.no_grad():
        batch = model(wavs, lengths)
        alone = torch.cat([model(clip.unsqueeze(0)) for clip in speech_clips])
    assert (batch - alone).abs().max().item() <= 1e-4


@pytest.mark.parametrize("name", MOBILENETS)
def test_mobilenet_padded_batch_deviation(students, name, speech_clips):
    model = students[name]
    wavs, lengths = pad_batch(speech_clips)
    with torch.no_grad():
        batch = model(wavs, lengths)
        alone = torch.cat([model(clip.unsqueeze(0)) for clip in speech_clips])
    deviation = ((batch - alone).abs().max() / alone.abs().max()).item()
    print(f"{name}: padded-batch relative deviation {deviation:.2e}")
    # Hooks mask every spatial conv and the SE squeeze: float rounding only.
    assert deviation <= 1e-4


@pytest.mark.parametrize("name", list(STUDENTS))
def test_short_clips_are_padded_not_crashed_on(students, name):
    model = students[name]
    with torch.no_grad():
        for samples in (1, 50, 200):
            out = model(torch.randn(1, samples))
            assert out.shape == (1, 3) and torch.isfinite(out).all()
        # A short clip inside a batch of longer ones behaves as when alone.
        short = torch.randn(40)
        wavs, lengths = pad_batch([short, torch.randn(16000)])
        in_batch = model(wavs, lengths)[0]
        alone = model(short.unsqueeze(0))[0]
    scale = max(alone.abs().max().item(), 1.0)
    assert (in_batch - alone).abs().max().item() <= 1e-4 * scale


@pytest.mark.parametrize("name", list(STUDENTS))
def test_backward_gives_finite_gradients(name, speech_clips):
    model = build_student(name).train()
    wavs, lengths = pad_batch(speech_clips)
    targets = torch.rand(3, 3)
    loss = (model(wavs, lengths) - targets).square().mean()
    loss.backward()
    gradients = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in gradients)
    assert any(g.abs().sum() > 0 for g in gradients)


def test_registry_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="unknown student 'resnet'"):
        student_hparams_file("resnet")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        student_hparams_file(str(tmp_path / "missing.yaml"))
    no_model = tmp_path / "no_model.yaml"
    no_model.write_text("channels: 3\n")
    with pytest.raises(KeyError, match="no top-level 'model'"):
        build_student(str(no_model))
