"""Audio loading: the one place that reads, checks, mixes down and resamples.

Depends only on numpy and soundfile, so that the torch-free ONNX interface
uses the very same code as the recipes and the PyTorch interface.

Every failure is an :class:`AudioError` naming the file and the problem
(missing, empty, not audio, no samples, NaN/Inf), never a traceback from
deep inside a decoder, so batch jobs can log it and go on.

Authors
 * speechbrain-wav2small contributors 2026
"""

import math
import os
from fractions import Fraction

import numpy as np
import soundfile as sf

from speechbrain_wav2small import SAMPLE_RATE

#: Sample rate every model in this package expects.

#: File extensions treated as audio when scanning folders.
AUDIO_EXTENSIONS = (
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".aiff",
    ".aif",
    ".au",
    ".w64",
    ".caf",
)


class AudioError(ValueError):
    """A file that cannot be used as audio; ``path`` and ``reason`` say why.

    Example
    -------
    >>> str(AudioError("a.wav", "file is empty"))
    'a.wav: file is empty'
    """

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def audio_info(path):
    """Sample rate, channels, frames and duration (s) from the header.

    Raises
    ------
    AudioError
        When the file is missing, empty or not a readable audio file.
    """
    _check_exists(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(path, f"not a readable audio file ({error})") from None
    return {
        "sample_rate": info.samplerate,
        "channels": info.channels,
        "frames": info.frames,
        "duration": info.frames / info.samplerate if info.samplerate else 0.0,
    }


def _check_exists(path):
    """Refuses a missing path, a folder or an empty file, naming it."""
    if not os.path.exists(path):
        raise AudioError(path, "file does not exist")
    if os.path.isdir(path):
        raise AudioError(path, "is a folder, not an audio file")
    if os.path.getsize(path) == 0:
        raise AudioError(path, "file is empty (0 bytes)")


def read_audio(path, sample_rate=SAMPLE_RATE, start=0.0, stop=None):
    """Reads a file as mono float32 at ``sample_rate``.

    Any format and subtype soundfile reads (WAV int16/int24/float, FLAC,
    OGG...), any channel count (averaged to mono), any rate (resampled).

    Arguments
    ---------
    path : str or os.PathLike
        The audio file.
    sample_rate : int
        Target rate in Hz.
    start, stop : float
        Optional segment, in seconds of the original file.

    Returns
    -------
    numpy.ndarray
        float32 samples [time], at least one.

    Raises
    ------
    AudioError
        Missing, empty or unreadable file; no samples; NaN or Inf samples.

    Example
    -------
    >>> import tempfile, soundfile
    >>> path = tempfile.mktemp(suffix=".wav")
    >>> soundfile.write(path, np.zeros((441, 2)), 44100)
    >>> read_audio(path).shape
    (160,)
    """
    _check_exists(path)
    try:
        with sf.SoundFile(str(path)) as stream:
            original_rate = stream.samplerate
            first = int(round(start * original_rate))
            last = None if stop is None else int(round(stop * original_rate))
            if first:
                stream.seek(first)
            frames = -1 if last is None else max(last - first, 0)
            samples = stream.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(path, f"not a readable audio file ({error})") from None
    if samples.shape[0] == 0:
        raise AudioError(path, "contains no samples")
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if not np.isfinite(mono).all():
        raise AudioError(path, "contains NaN or Inf samples")
    return resample(mono, original_rate, sample_rate)


def resample(samples, orig_rate, new_rate, zero_crossings=16, rolloff=0.945):
    """Band-limited (Hann-windowed sinc) resampling of a 1-D signal.

    A polyphase implementation in numpy: the ratio is reduced to
    ``new/orig`` in lowest terms and each of the ``new`` output phases is a
    short FIR filter applied with stride ``orig``.

    Arguments
    ---------
    samples : numpy.ndarray
        float32 signal [time].
    orig_rate, new_rate : int
        Sample rates in Hz.
    zero_crossings : int
        Half-width of the sinc in zero crossings (quality vs speed).
    rolloff : float
        Cut-off as a fraction of the lower Nyquist frequency.

    Returns
    -------
    numpy.ndarray
        float32 signal of ``ceil(len * new / orig)`` samples.

    Example
    -------
    >>> tone = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)
    >>> y = resample(tone.astype("float32"), 44100, 16000)
    >>> y.shape, round(float(np.abs(y[1000:-1000]).max()), 2)
    ((16000,), 1.0)
    """
    samples = np.asarray(samples, dtype=np.float32)
    if orig_rate == new_rate:
        return samples
    ratio = Fraction(int(new_rate), int(orig_rate))
    up, down = ratio.numerator, ratio.denominator
    cutoff = min(up, down) * rolloff  # in units of the up-sampled rate
    half_width = int(math.ceil(zero_crossings * down / cutoff))
    # Filter taps for output phase p at input offsets -half_width..,
    # time measured in input samples.
    offsets = np.arange(-half_width, half_width + down, dtype=np.float64)
    phases = np.arange(up, dtype=np.float64) / up * down
    t = (offsets[None, :] - phases[:, None]) * cutoff / down
    t = np.clip(t, -zero_crossings, zero_crossings)
    window = np.cos(t * math.pi / zero_crossings / 2) ** 2
    kernels = (np.sinc(t) * window * cutoff / down).astype(np.float32)
    padded = np.pad(samples, (half_width, half_width + down))
    n_blocks = samples.shape[0] // down + 1
    frames = np.lib.stride_tricks.as_strided(
        padded,
        shape=(n_blocks, kernels.shape[1]),
        strides=(padded.strides[0] * down, padded.strides[0]),
        writeable=False,
    )
    output = (frames @ kernels.T).reshape(-1)
    n_out = int(math.ceil(samples.shape[0] * up / down))
    return np.ascontiguousarray(output[:n_out], dtype=np.float32)


def find_audio_files(folder):
    """All audio files under ``folder`` (recursive), sorted.

    Example
    -------
    >>> find_audio_files("/nonexistent")
    Traceback (most recent call last):
    ...
    FileNotFoundError: audio folder /nonexistent does not exist
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"audio folder {folder} does not exist")
    found = []
    for root, _, files in os.walk(folder):
        for name in files:
            if name.lower().endswith(AUDIO_EXTENSIONS):
                found.append(os.path.join(root, name))
    return sorted(found)
