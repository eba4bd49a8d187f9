"""Log-mel front end shared by every student: pure, padding-aware modules.

The power spectrogram is a strided Conv1d holding the windowed DFT rows, not
``torch.stft``: it exports to ONNX as a plain convolution, which onnxruntime
runs fast and to float precision (its ``STFT`` op does neither). The DFT
basis and the mel filterbank are rebuilt from their few defining numbers at
every call instead of being stored, which keeps an exported model small.

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.functional import (
    at_least_float32,
    autocast_off,
    conv_output_length,
    normalize_waveform,
    relative_to_absolute,
    slaney_mel_filterbank,
    windowed_dft_basis,
)


class WaveformNorm(nn.Module):
    """Per-utterance zero mean and unit mean square over valid samples.

    Arguments
    ---------
    eps : float
        Added to the mean square before the square root.

    Example
    -------
    >>> norm = WaveformNorm()
    >>> out = norm(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
    >>> out.shape
    torch.Size([2, 16000])
    """

    def __init__(self, eps=1e-7):
        super().__init__()
        self.eps = eps

    def forward(self, wavs, lengths=None):
        """Normalises each waveform; padding becomes exact zeros.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time].
        lengths : torch.Tensor, optional
            Relative lengths [batch] in (0, 1]; ``None`` means unpadded.

        Returns
        -------
        torch.Tensor
            Normalised waveforms [batch, time].
        """
        return normalize_waveform(wavs, lengths, self.eps)


class ConvPowerSpectrogram(nn.Module):
    """Power spectrogram |STFT|² as one strided Conv1d, no centre padding.

    Frames are ``floor((N - n_fft) / hop_length) + 1``; a periodic Hann
    window is applied.

    Arguments
    ---------
    n_fft : int
        Window (and DFT) length in samples.
    hop_length : int
        Hop between frames in samples.

    Example
    -------
    >>> spec = ConvPowerSpectrogram(n_fft=64, hop_length=32)
    >>> spec(torch.randn(2, 16000)).shape
    torch.Size([2, 499, 33])
    """

    def __init__(self, n_fft, hop_length):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_freqs = n_fft // 2 + 1

    def forward(self, wavs):
        """Computes the power spectrogram.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time], at least ``n_fft`` samples long.

        Returns
        -------
        torch.Tensor
            Power [batch, frames, n_freqs].
        """
        basis = windowed_dft_basis(
            self.n_fft, device=wavs.device, dtype=wavs.dtype
        ).unsqueeze(1)
        spectrum = F.conv1d(wavs.unsqueeze(1), basis, stride=self.hop_length)
        real, imag = spectrum.split(self.n_freqs, dim=1)
        return (real.square() + imag.square()).transpose(1, 2)

    def frame_counts(self, sample_counts):
        """Valid frames for ``sample_counts`` valid samples (at least 1).

        A clip shorter than one window counts as one window, as
        :class:`LogMelFrontEnd` pads it to one.

        Arguments
        ---------
        sample_counts : torch.Tensor
            Valid samples per utterance [batch] (long).

        Returns
        -------
        torch.Tensor
            Valid frames per utterance [batch] (long).

        Example
        -------
        >>> spec = ConvPowerSpectrogram(n_fft=64, hop_length=32)
        >>> spec.frame_counts(torch.tensor([10, 64, 16000]))
        tensor([  1,   1, 499])
        """
        counts = torch.clamp(sample_counts, min=self.n_fft)
        return conv_output_length(counts, self.n_fft, self.hop_length)


class LogMelFilterbank(nn.Module):
    """Slaney mel filterbank, then ``10 * log10(max(x, amin))`` (no ref).

    Arguments
    ---------
    n_fft : int
        The FFT size the power spectrogram was computed with.
    n_mels : int
        Number of mel bands.
    sample_rate : int
        Sample rate in Hz.
    f_min, f_max : float
        Frequency range in Hz; ``f_max`` defaults to Nyquist.
    amin : float
        Floor applied to the mel power before the logarithm.

    Example
    -------
    >>> mel = LogMelFilterbank(n_fft=64, n_mels=26, sample_rate=16000)
    >>> mel(torch.rand(2, 499, 33)).shape
    torch.Size([2, 499, 26])
    """

    def __init__(
        self, n_fft, n_mels, sample_rate, f_min=0.0, f_max=None, amin=1e-10
    ):
        super().__init__()
        self.n_freqs = n_fft // 2 + 1
        self.n_mels = n_mels
        self.sample_rate = sample_rate
        self.f_min = float(f_min)
        self.f_max = float(sample_rate / 2 if f_max is None else f_max)
        self.amin = amin

    def filterbank(self, device=None, dtype=torch.float32):
        """The filterbank matrix, rebuilt from its defining numbers.

        Arguments
        ---------
        device : torch.device, optional
            Device of the matrix.
        dtype : torch.dtype
            Floating-point type of the matrix.

        Returns
        -------
        torch.Tensor
            Filterbank [n_freqs, n_mels].
        """
        return slaney_mel_filterbank(
            self.n_freqs,
            self.n_mels,
            self.sample_rate,
            self.f_min,
            self.f_max,
            device=device,
            dtype=dtype,
        )

    def forward(self, power):
        """Maps a power spectrogram to log-mel dB.

        Arguments
        ---------
        power : torch.Tensor
            Power [batch, frames, n_freqs].

        Returns
        -------
        torch.Tensor
            Log-mel dB [batch, frames, n_mels].
        """
        mel_power = power @ self.filterbank(power.device, power.dtype)
        return 10.0 * torch.log10(torch.clamp(mel_power, min=self.amin))


class LogMelFrontEnd(nn.Module):
    """Waveform normalisation, power spectrogram and log-mel, length-aware.

    Clips shorter than one window are zero-padded to one window (one frame)
    rather than rejected.

    Arguments
    ---------
    sample_rate : int
        Input sample rate in Hz.
    n_fft : int
        Analysis window in samples.
    hop_length : int
        Hop in samples.
    n_mels : int
        Number of mel bands.
    f_min, f_max : float
        Mel frequency range in Hz.
    normalize : bool
        Whether to apply per-utterance waveform normalisation first.

    Example
    -------
    >>> front_end = LogMelFrontEnd(n_fft=64, hop_length=32, n_mels=26)
    >>> feats, frames = front_end(torch.randn(2, 16000), torch.tensor([1, .5]))
    >>> feats.shape, frames
    (torch.Size([2, 499, 26]), tensor([499, 249]))
    """

    def __init__(
        self,
        sample_rate=SAMPLE_RATE,
        n_fft=64,
        hop_length=32,
        n_mels=26,
        f_min=0.0,
        f_max=None,
        normalize=True,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.normalize = WaveformNorm() if normalize else None
        self.spectrogram = ConvPowerSpectrogram(n_fft, hop_length)
        self.log_mel = LogMelFilterbank(
            n_fft, n_mels, sample_rate, f_min, f_max
        )

    def forward(self, wavs, lengths=None):
        """Computes log-mel features.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time].
        lengths : torch.Tensor, optional
            Relative lengths [batch] in (0, 1].

        Returns
        -------
        features : torch.Tensor
            Log-mel dB [batch, frames, n_mels]; padded frames hold garbage
            that callers mask with ``frame_counts``.
        frame_counts : torch.Tensor
            Valid frames per utterance [batch] (long).

        Example
        -------
        >>> front_end = LogMelFrontEnd()
        >>> with torch.autocast("cpu", dtype=torch.bfloat16):
        ...     feats, _ = front_end(torch.randn(1, 16000))
        >>> feats.dtype
        torch.float32
        """
        device_type = wavs.device.type
        if not (
            torch.amp.is_autocast_available(device_type)
            and torch.is_autocast_enabled(device_type)
        ):
            return self._features(wavs, lengths)
        # Under mixed precision the DFT convolution and the mel product
        # would run in bf16/fp16, whose rounding noise (about -50 dB of the
        # loudest bin) swamps the quiet bins that 10*log10 then spreads
        # over tens of dB: on the shipped speech, log-mel features in bf16
        # were off by up to 27 dB (0.5 dB on average). The front end has
        # no weights, so float32 costs little; the layers after it still
        # run in low precision.
        with autocast_off(wavs.device):
            return self._features(at_least_float32(wavs), lengths)

    def _features(self, wavs, lengths):
        """:meth:`forward` in the precision of ``wavs``, as autocast says."""
        total = wavs.shape[1]
        if self.normalize is not None:
            # lengths=None takes the normaliser's unmasked path.
            wavs = self.normalize(wavs, lengths)
        if lengths is None:
            lengths = torch.ones(wavs.shape[0], device=wavs.device)
        sample_counts = relative_to_absolute(lengths, total)
        if total < self.n_fft:
            wavs = F.pad(wavs, (0, self.n_fft - total))
        features = self.log_mel(self.spectrogram(wavs))
        return features, self.spectrogram.frame_counts(sample_counts)
