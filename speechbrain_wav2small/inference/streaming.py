"""Constant-memory streaming inference for Wav2Small.

:class:`StreamingWav2Small` gives the utterance-level output of the
whole-clip model, ``model.eval()(wav[None])``, for audio of any length
while holding only one chunk of it (plus a few frames of context) at a
time. The audio is read twice:

1. a statistics pass accumulates the waveform normalisation statistics
   in float64, so an hour of audio normalises as exactly as a clip held
   whole;
2. a feature pass runs the normalisation, the spectrogram, the log-mel,
   every conv block and the max pool on one step of audio at a time, each
   carrying the left context it needs across step boundaries, then feeds
   an online softmax for the attention pooling. The head runs once on the
   pooled features.

The statistics are merged chunk by chunk with Chan et al.'s parallel
update (:class:`WaveformStatistics`); the per-layer pieces of the feature
pass live in :mod:`speechbrain_wav2small.inference.streaming_layers`.
Nothing grows with the audio length: the state carried between steps is a
few frames per layer, one step of samples and three [channels, mel]
accumulators (see :attr:`StreamingWav2Small.peak_carried_elements`).
``benchmarks/streaming_memory.py`` measures the peak resident memory
against the whole-clip model's.

Authors
 * speechbrain-wav2small contributors 2026
"""

import numpy as np
import soundfile as sf
import torch
from torch import nn

from speechbrain_wav2small.dataio.audio import AudioError, audio_info
from speechbrain_wav2small.inference.streaming_layers import (
    OnlineAttentionPooling,
    StreamingConvBlock,
    StreamingMaxPool,
    StreamingSpectrogram,
)
from speechbrain_wav2small.lobes.frontend import LogMelFrontEnd
from speechbrain_wav2small.lobes.wav2small import (
    AttentionPooling,
    Wav2Small,
    second_order_features,
)
from speechbrain_wav2small.utils.modules import eval_mode


class _EmptyStreamError(ValueError):
    """The stream holds no samples (``predict_file`` names the file)."""


class WaveformStatistics:
    """Running count, mean and squared deviations of a stream, in float64.

    Chunks are merged with Chan et al.'s parallel update, which stays
    accurate where a running sum of squares would cancel.

    Example
    -------
    >>> stats = WaveformStatistics()
    >>> stats.update(torch.tensor([1.0, 3.0]))
    >>> stats.update(torch.tensor([]))
    >>> stats.update(torch.tensor([5.0]))
    >>> stats.count, stats.mean, stats.m2
    (3, 3.0, 8.0)
    """

    def __init__(self):
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, samples):
        """Adds the samples of a 1-D tensor."""
        n = samples.numel()
        if n == 0:
            return
        x = samples.to(torch.float64)
        mean = x.mean().item()
        m2 = (x - mean).square().sum().item()
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total

    def normalizer(self, eps, dtype=torch.float32):
        """``(shift, scale)`` such that ``(x - shift) / scale`` is what
        :func:`~speechbrain_wav2small.functional.normalize_waveform` gives.

        The whole-clip model centres with its mean rounded to ``dtype`` and
        takes the mean square of that, so the same rounding is reproduced.

        Example
        -------
        >>> stats = WaveformStatistics()
        >>> stats.update(torch.tensor([1.0, 3.0]))
        >>> shift, scale = stats.normalizer(eps=0.0)
        >>> float(shift), float(scale)
        (2.0, 1.0)
        """
        shift = torch.tensor(self.mean, dtype=dtype)
        offset = self.mean - float(shift)
        mean_square = self.m2 / self.count + offset * offset
        scale = torch.sqrt(torch.tensor(mean_square, dtype=dtype) + eps)
        return shift, scale


def _check_structure(model):
    """Refuses a model the streaming layers cannot reproduce."""
    if not isinstance(model, Wav2Small):
        raise TypeError(
            "StreamingWav2Small supports only Wav2Small students, got "
            f"{type(model).__name__}; run other students on whole clips"
        )
    expected = {
        "front_end": LogMelFrontEnd,
        "blocks_full": nn.ModuleList,
        "pool": nn.MaxPool2d,
        "blocks_pooled": nn.ModuleList,
        "attention": AttentionPooling,
        "head": nn.Linear,
    }
    for name, kind in expected.items():
        if not isinstance(getattr(model, name, None), kind):
            raise ValueError(
                f"cannot stream this Wav2Small: its '{name}' is not a "
                f"{kind.__name__} (streaming needs front_end -> blocks_full "
                "-> pool -> blocks_pooled -> attention -> head)"
            )
    front_end = model.front_end
    if front_end.hop_length > front_end.n_fft:
        raise ValueError("cannot stream a front end whose hop exceeds n_fft")


def _time_stages(model):
    """The streaming conv blocks and pool of ``model``, in order."""
    stages = [
        StreamingConvBlock(block, f"blocks_full[{index}]")
        for index, block in enumerate(model.blocks_full)
    ]
    stages.append(StreamingMaxPool(model.pool))
    stages += [
        StreamingConvBlock(block, f"blocks_pooled[{index}]")
        for index, block in enumerate(model.blocks_pooled)
    ]
    return stages


def _file_chunks(path, chunk_samples):
    """Yields the mono float32 blocks of an audio file, checked."""
    try:
        with sf.SoundFile(str(path)) as stream:
            while True:
                block = stream.read(
                    chunk_samples, dtype="float32", always_2d=True
                )
                if block.shape[0] == 0:
                    return
                mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
                if not np.isfinite(mono).all():
                    raise AudioError(path, "contains NaN or Inf samples")
                yield mono
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(path, f"not a readable audio file ({error})") from None


class StreamingWav2Small:
    """Wav2Small inference over arbitrarily long audio in bounded memory.

    Gives the same utterance-level output as ``model.eval()(wav[None])``
    (to float rounding) while holding one chunk of audio at a time; see the
    module docstring for how. The audio is read twice (normalisation
    statistics, then features), so it comes as a callable returning a fresh
    iterable of chunks each time, or as a file.

    Arguments
    ---------
    model : Wav2Small
        The model; it runs in eval mode without gradients (its own mode is
        restored afterwards).
    chunk_seconds : float
        Audio processed per step (the chunks given may be of any size: they
        are regrouped into steps). The peak memory grows with it, mostly
        through the 3x3 convolutions' unfold buffer, while the speed barely
        does: 1 s steps run about as fast as 10 s steps, and steps of a
        fraction of a second only somewhat slower.

    Attributes
    ----------
    peak_carried_elements : int
        After a prediction: the most tensor elements the stream carried
        from one step to the next (buffers, context frames, pooling
        accumulators), independent of the audio length.

    Example
    -------
    >>> model = Wav2Small().eval()
    >>> wav = torch.randn(8000)
    >>> streamer = StreamingWav2Small(model, chunk_seconds=0.1)
    >>> chunks = lambda: wav.split(1234)
    >>> streamed = streamer.predict_chunks(chunks)
    >>> streamed.shape
    torch.Size([3])
    >>> with torch.no_grad():
    ...     whole = model(wav[None])[0]
    >>> bool(torch.allclose(streamed, whole, atol=1e-5))
    True
    """

    def __init__(self, model, chunk_seconds=1.0):
        _check_structure(model)
        if not chunk_seconds > 0:
            raise ValueError(f"chunk_seconds must be > 0, got {chunk_seconds}")
        self.model = model
        self.sample_rate = int(model.front_end.sample_rate)
        self.chunk_samples = max(
            1, int(round(chunk_seconds * self.sample_rate))
        )
        self.peak_carried_elements = 0

    def predict_chunks(self, make_chunks):
        """Predicts (arousal, dominance, valence) of one stream.

        Arguments
        ---------
        make_chunks : callable
            Called twice without arguments; each call returns an iterable
            over the same audio as 1-D float chunks (numpy arrays or
            tensors) of any sizes, empty ones included.

        Returns
        -------
        torch.Tensor
            [3], as ``model(wav[None])[0]``.
        """
        # Eval mode for the BatchNorm running statistics; the caller's mode
        # is restored, so a model being trained can be streamed in between.
        with eval_mode(self.model), torch.no_grad():
            return self.model.head(self._embed(make_chunks)[None])[0]

    def embed_chunks(self, make_chunks):
        """The utterance features [head.in_features] of a stream, as
        ``model.embed(wav[None])[0]``; arguments as :meth:`predict_chunks`.
        """
        with eval_mode(self.model), torch.no_grad():
            return self._embed(make_chunks)

    def predict_file(self, path):
        """Predicts (arousal, dominance, valence) of an audio file read in
        chunks (channels averaged to mono, as ``read_audio`` does).

        Arguments
        ---------
        path : str or os.PathLike
            An audio file at the model's sample rate.

        Returns
        -------
        torch.Tensor
            [3], as :meth:`predict_chunks`.

        Raises
        ------
        AudioError
            Missing, empty or unreadable file, a sample rate other than the
            model's (resample first), no samples, NaN or Inf samples.
        """
        info = audio_info(path)
        if info["sample_rate"] != self.sample_rate:
            raise AudioError(
                path,
                f"sample rate is {info['sample_rate']} Hz but streaming "
                f"needs the model's {self.sample_rate} Hz; resample the file "
                "first (or predict it whole, which resamples)",
            )
        try:
            return self.predict_chunks(
                lambda: _file_chunks(path, self.chunk_samples)
            )
        except _EmptyStreamError:
            raise AudioError(path, "contains no samples") from None

    def _chunks(self, make_chunks, dtype, device):
        """Yields the stream's chunks as 1-D tensors, checked."""
        for chunk in make_chunks():
            if isinstance(chunk, np.ndarray) and not chunk.flags.writeable:
                chunk = chunk.copy()  # torch warns on read-only arrays
            chunk = torch.as_tensor(chunk)
            if chunk.dim() != 1:
                raise ValueError(
                    f"chunks must be 1-D, got shape {tuple(chunk.shape)}"
                )
            if not chunk.is_floating_point():
                raise ValueError(f"chunks must be float, got {chunk.dtype}")
            yield chunk.to(device=device, dtype=dtype)

    def _statistics(self, make_chunks, dtype, device):
        """The statistics pass: the stream's :class:`WaveformStatistics`."""
        stats = WaveformStatistics()
        for chunk in self._chunks(make_chunks, dtype, device):
            # Bounded pieces keep the float64 copy small.
            for piece in chunk.split(self.chunk_samples):
                if not torch.isfinite(piece).all():
                    raise ValueError("the stream has NaN or Inf samples")
                stats.update(piece)
        if stats.count == 0:
            raise _EmptyStreamError("the stream holds no samples")
        return stats

    def _embed(self, make_chunks):
        """Both passes over the stream: the utterance features."""
        if not callable(make_chunks):
            raise TypeError(
                "make_chunks must be a callable returning a fresh iterable of "
                "chunks (it is called twice), e.g. lambda: wav.split(16000)"
            )
        model = self.model
        parameter = next(model.parameters())
        dtype, device = parameter.dtype, parameter.device
        front_end = model.front_end

        shift, scale, expected = None, None, None
        if front_end.normalize is not None:
            stats = self._statistics(make_chunks, dtype, device)
            shift, scale = stats.normalizer(front_end.normalize.eps, dtype)
            shift, scale = shift.to(device), scale.to(device)
            expected = stats.count

        spectrogram = StreamingSpectrogram(front_end)
        stages = _time_stages(model)
        attention = OnlineAttentionPooling(model.attention)
        pending = torch.empty(self.chunk_samples, dtype=dtype, device=device)
        filled, total = 0, 0
        self.peak_carried_elements = 0

        def step(samples, final):
            """Runs one step of samples through every layer."""
            if shift is not None:
                samples = (samples - shift) / scale
            x = spectrogram.push(samples, final)
            for stage in stages:
                x = stage.push(x, final)
            if x is not None:
                attention.push(x)
            carried = [pending] + spectrogram.carried() + attention.carried()
            for stage in stages:
                carried += stage.carried()
            self.peak_carried_elements = max(
                self.peak_carried_elements,
                sum(t.numel() for t in carried if t is not None),
            )

        for chunk in self._chunks(make_chunks, dtype, device):
            if not torch.isfinite(chunk).all():
                raise ValueError("the stream has NaN or Inf samples")
            total += chunk.numel()
            if expected is not None and total > expected:
                raise ValueError(self._changed_stream(expected, total))
            start = 0
            while start < chunk.numel():
                taken = min(self.chunk_samples - filled, chunk.numel() - start)
                pending[filled : filled + taken] = chunk[start : start + taken]
                filled += taken
                start += taken
                if filled == self.chunk_samples:
                    # No stage keeps a view of ``pending`` (each copies
                    # what it carries), so the buffer can be refilled.
                    step(pending, final=False)
                    filled = 0
        if expected is not None and total != expected:
            raise ValueError(self._changed_stream(expected, total))
        if total == 0:
            raise _EmptyStreamError("the stream holds no samples")
        step(pending[:filled], final=True)
        pooled = attention.pooled(dtype)
        return second_order_features(pooled[None])[0]

    @staticmethod
    def _changed_stream(expected, total):
        """The error message for a stream that changed between passes."""
        return (
            f"make_chunks gave {expected} samples in the statistics pass and "
            f"{'at least ' if total > expected else ''}{total} in the "
            "feature pass; each call must return the same audio"
        )
