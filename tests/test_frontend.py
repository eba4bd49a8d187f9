"""The log-mel front end against an independent torch.stft/torchaudio path."""

import math

import pytest
import torch
import torchaudio
from conftest import pad_batch, read_speech

from speechbrain_wav2small.functional import (
    normalize_waveform,
    slaney_mel_filterbank,
)
from speechbrain_wav2small.lobes.frontend import LogMelFrontEnd

# (n_fft, hop, n_mels): the Wav2Small release (and its 72K widening), a
# 256-sample window with 64 bands, the MobileNets, and a common
# 25 ms / 10 ms setting.
CONFIGS = [(64, 32, 26), (256, 32, 64), (144, 72, 48), (400, 160, 80)]


def reference_log_mel(wavs, n_fft, hop, n_mels, sample_rate=16000):
    """Independent reference: torch.stft + torchaudio's Slaney filterbank."""
    centered = wavs - wavs.mean(dim=1, keepdim=True)
    normalized = centered / torch.sqrt(
        centered.square().mean(dim=1, keepdim=True) + 1e-7
    )
    spectrum = torch.stft(
        normalized.double(),
        n_fft=n_fft,
        hop_length=hop,
        window=torch.hann_window(n_fft, periodic=True, dtype=torch.float64),
        center=False,
        return_complex=True,
    )
    power = spectrum.abs().square().transpose(1, 2)  # [batch, frames, freq]
    filterbank = torchaudio.functional.melscale_fbanks(
        n_fft // 2 + 1,
        0.0,
        sample_rate / 2,
        n_mels,
        sample_rate,
        norm="slaney",
        mel_scale="slaney",
    ).double()
    return 10.0 * torch.log10(torch.clamp(power @ filterbank, min=1e-10))


def relative_error(ours, reference):
    difference = ours.double() - reference
    return (difference.norm() / reference.norm()).item(), (
        difference.abs().max() / reference.abs().max()
    ).item()


def chirp_with_noise(seconds=2.0, sample_rate=16000):
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * math.pi * (100 * t + 1900 * t.square())
    return 0.5 * torch.sin(phase) + 0.01 * torch.randn_like(t)


@pytest.mark.parametrize("n_fft,hop,n_mels", CONFIGS)
def test_matches_stft_reference_on_real_speech(n_fft, hop, n_mels):
    wavs = torch.stack(
        [read_speech("ASR_spk1_snt1.wav")[:40000], chirp_with_noise(2.5)]
    )
    front_end = LogMelFrontEnd(16000, n_fft, hop, n_mels)
    ours, frames = front_end(wavs)
    reference = reference_log_mel(wavs, n_fft, hop, n_mels)
    assert ours.shape == reference.shape
    assert frames.tolist() == [(40000 - n_fft) // hop + 1] * 2
    norm_error, max_error = relative_error(ours, reference)
    assert norm_error <= 1e-4, norm_error
    assert max_error <= 1e-4, max_error


@pytest.mark.parametrize("n_freqs,n_mels", [(33, 26), (129, 64), (73, 48)])
def test_filterbank_equals_torchaudio(n_freqs, n_mels):
    reference = torchaudio.functional.melscale_fbanks(
        n_freqs, 0.0, 8000.0, n_mels, 16000, norm="slaney", mel_scale="slaney"
    )
    ours = slaney_mel_filterbank(n_freqs, n_mels, 16000)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-7)


def test_normalisation_honours_lengths(speech_clips):
    wavs, lengths = pad_batch(speech_clips)
    batch = normalize_waveform(wavs, lengths)
    for row, clip in enumerate(speech_clips):
        alone = normalize_waveform(clip.unsqueeze(0))[0]
        torch.testing.assert_close(batch[row, : len(clip)], alone)
        assert torch.all(batch[row, len(clip) :] == 0)
        assert abs(alone.mean().item()) < 1e-5
        assert abs(alone.square().mean().item() - 1.0) < 1e-3


def test_padded_frames_equal_clip_alone(speech_clips):
    front_end = LogMelFrontEnd(16000, 64, 32, 26)
    wavs, lengths = pad_batch(speech_clips)
    batch, frames = front_end(wavs, lengths)
    for row, clip in enumerate(speech_clips):
        alone, alone_frames = front_end(clip.unsqueeze(0))
        assert frames[row] == alone_frames[0] == (len(clip) - 64) // 32 + 1
        torch.testing.assert_close(
            batch[row, : frames[row]], alone[0], rtol=1e-5, atol=1e-4
        )


@pytest.mark.parametrize("samples", [1, 10, 63, 64, 65])
def test_clips_shorter_than_a_window_are_padded(samples):
    front_end = LogMelFrontEnd(16000, 64, 32, 26)
    features, frames = front_end(torch.randn(1, samples))
    assert features.shape == (1, 1, 26) and frames.tolist() == [1]
    assert torch.isfinite(features).all()


def test_silence_gives_the_floor_not_nan():
    features, _ = LogMelFrontEnd()(torch.zeros(2, 1600))
    assert torch.all(features == -100.0)


def test_no_large_tensors_are_stored():
    # Basis and filterbank are rebuilt from their defining numbers.
    front_end = LogMelFrontEnd(16000, 400, 160, 80)
    assert not list(front_end.parameters()) and not list(front_end.buffers())
