"""Constant-memory streaming inference for Wav2Small.

:class:`StreamingWav2Small` gives the utterance-level output of the
whole-clip model, ``model.eval()(wav[None])``, for audio of any length
while holding only one chunk of it (plus a few frames of context) at a
time. The audio is read twice:

1. a statistics pass accumulates the waveform normalisation statistics
   (count, mean, sum of squared deviations) in float64, merged chunk by
   chunk with Chan et al.'s parallel update, so an hour of audio normalises
   as exactly as a clip held whole;
2. a feature pass runs the normalisation, the Conv1d power spectrogram,
   the log-mel and every conv block and the max pool on one chunk at a
   time. Each stage carries the left context it needs across chunk
   boundaries (the samples of the next STFT window, the ``2 * padding``
   frames of every 3x3 conv, the unconsumed frames of the stride-2 pool)
   and, at the true end of the clip, appends the zero (conv) or ``-inf``
   (pool) padding the whole-clip model sees, so every frame it computes is
   a frame of the whole-clip model. The attention pooling is an online
   softmax per (channel, mel) cell: a running maximum, the running sums of
   ``exp(score - max)`` and ``value * exp(score - max)`` rescaled when the
   maximum grows, in float64. The head runs once on the pooled features.

Nothing grows with the audio length: the state carried between chunks is a
few frames per stage, one chunk of samples and three [channels, mel]
accumulators (see :attr:`StreamingWav2Small.peak_carried_elements`).
``benchmarks/streaming_memory.py`` measures the peak resident memory: for
the 11K model with 1 s steps on one thread, about 4 MB above the loaded
model from 10 s to 1 h of audio, where the whole-clip model needs 23 MB for
10 s and 1.3 GB for 10 minutes.

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_wav2small.dataio.audio import AudioError, audio_info
from speechbrain_wav2small.lobes.frontend import LogMelFrontEnd
from speechbrain_wav2small.lobes.wav2small import (
    AttentionPooling,
    Wav2Small,
    second_order_features,
)


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


def _pair(value):
    return tuple(value) if isinstance(value, tuple | list) else (value, value)


class _Carry:
    """Up to ``capacity`` slices along ``dim`` kept for the next step, in
    storage allocated once.

    Copying into one small allocation, rather than keeping a fresh slice
    every step, stops the carried state from pinning the allocator's heap
    between a step's large temporaries: with glibc, fresh slices made the
    peak resident memory creep up by a few MB over an hour of audio.
    """

    def __init__(self, capacity, dim):
        self.capacity = capacity
        self.dim = dim
        self.storage = None
        self.length = 0

    def get(self):
        """The carried slices (a view), or None before the first ``set``."""
        if self.storage is None:
            return None
        return self.storage.narrow(self.dim, 0, self.length)

    def set(self, tail):
        """Carries a copy of ``tail`` (not a view of the storage)."""
        if self.storage is None:
            shape = list(tail.shape)
            shape[self.dim] = self.capacity
            self.storage = tail.new_empty(shape)
        self.length = tail.shape[self.dim]
        self.storage.narrow(self.dim, 0, self.length).copy_(tail)

    def cat(self, *parts):
        """The carried slices followed by the non-None ``parts``."""
        parts = [self.get(), *parts]
        return torch.cat([part for part in parts if part is not None], self.dim)

    def carried(self):
        return [self.storage]


class _StreamingSpectrogram:
    """Log-mel frames of a normalised waveform pushed in pieces.

    Carries the samples from the start of the next STFT window on; at the
    end, a clip shorter than one window is zero-padded to one window, as
    :class:`LogMelFrontEnd` does.
    """

    def __init__(self, front_end):
        self.spectrogram = front_end.spectrogram
        self.log_mel = front_end.log_mel
        self.n_fft = front_end.n_fft
        self.hop = front_end.hop_length
        self.buffer = _Carry(self.n_fft, dim=0)
        self.seen = 0

    def push(self, samples, final=False):
        """Maps 1-D samples to log-mel frames [1, 1, frames, mel] or None."""
        if not samples.numel() and not final:
            return None
        self.seen += samples.numel()
        buffer = self.buffer.cat(samples)
        if final and self.seen < self.n_fft:
            buffer = F.pad(buffer, (0, self.n_fft - buffer.numel()))
        if buffer.numel() < self.n_fft:
            self.buffer.set(buffer)
            return None
        frames = (buffer.numel() - self.n_fft) // self.hop + 1
        used = buffer[: (frames - 1) * self.hop + self.n_fft]
        features = self.log_mel(self.spectrogram(used[None]))
        self.buffer.set(buffer[frames * self.hop :])
        return features[:, None]

    def carried(self):
        return self.buffer.carried()


class _StreamingConvBlock:
    """A padded conv block (conv, norm, activation) over time slices.

    The conv runs without time padding on the carried ``2 * padding``
    frames plus the new ones; ``padding`` zero frames stand for the clip's
    start and end, so each output frame lags its input by ``padding``.
    """

    def __init__(self, block, name):
        conv = getattr(block, "conv", None)
        if not isinstance(conv, nn.Conv2d):
            raise ValueError(f"{name} has no Conv2d 'conv'")
        kernel = _pair(conv.kernel_size)
        padding = _pair(conv.padding)
        if (
            kernel[0] != 2 * padding[0] + 1
            or _pair(conv.stride) != (1, 1)
            or _pair(conv.dilation) != (1, 1)
            or conv.padding_mode != "zeros"
        ):
            raise ValueError(
                f"{name}.conv must be a stride-1 'same' convolution over "
                f"time, got kernel {kernel}, padding {conv.padding}, "
                f"stride {conv.stride}, dilation {conv.dilation}, "
                f"padding_mode {conv.padding_mode!r}"
            )
        for part in ("norm", "activation"):
            if not isinstance(getattr(block, part, None), nn.Module):
                raise ValueError(f"{name} has no '{part}' module")
        self.block = block
        self.conv = conv
        self.kernel = kernel[0]
        self.padding = padding[0]
        self.context = _Carry(2 * self.padding, dim=2)

    def _zero_frames(self, like):
        batch, channels, _, mels = like.shape
        return like.new_zeros(batch, channels, self.padding, mels)

    def push(self, x, final=False):
        """Maps new frames [1, C, t, M] (or None) to output frames or None."""
        if x is None and not final:
            return None
        if self.context.get() is None:
            if x is None:
                return None
            self.context.set(self._zero_frames(x))
        end = self._zero_frames(self.context.get()) if final else None
        x = self.context.cat(x, end)
        if x.shape[2] < self.kernel:
            self.context.set(x)
            return None
        conv = self.conv
        y = F.conv2d(
            x, conv.weight, conv.bias, padding=(0, _pair(conv.padding)[1])
        )
        y = self.block.activation(self.block.norm(y))
        self.context.set(x[:, :, x.shape[2] - 2 * self.padding :])
        return y

    def carried(self):
        return self.context.carried()


class _StreamingMaxPool:
    """``nn.MaxPool2d`` over time slices, windows aligned as in the clip.

    Carries the frames from the start of the next pooling window on, so a
    chunk boundary anywhere (even or odd frame) gives the same windows as
    the whole clip; ``-inf`` frames stand for the time padding.
    """

    def __init__(self, pool):
        if not isinstance(pool, nn.MaxPool2d):
            raise ValueError("Wav2Small.pool must be an nn.MaxPool2d")
        self.kernel = _pair(pool.kernel_size)
        self.stride = _pair(pool.stride or pool.kernel_size)
        self.padding = _pair(pool.padding)
        if (
            _pair(pool.dilation) != (1, 1)
            or pool.ceil_mode
            or pool.return_indices
            or self.stride[0] > self.kernel[0]
        ):
            raise ValueError(
                "Wav2Small.pool must have dilation 1, ceil_mode=False, no "
                "indices and a time stride no larger than its kernel"
            )
        self.buffer = _Carry(max(self.kernel[0] - 1, 0), dim=2)

    def _padding_frames(self, like):
        shape = (*like.shape[:2], self.padding[0], like.shape[3])
        return like.new_full(shape, float("-inf"))

    def push(self, x, final=False):
        """Maps new frames [1, C, t, M] (or None) to pooled frames or None."""
        if x is None and not final:
            return None
        if self.buffer.get() is None:
            if x is None:
                return None
            self.buffer.set(self._padding_frames(x))
        end = self._padding_frames(self.buffer.get()) if final else None
        x = self.buffer.cat(x, end)
        kernel, stride = self.kernel[0], self.stride[0]
        if x.shape[2] < kernel:
            self.buffer.set(x)
            return None
        windows = (x.shape[2] - kernel) // stride + 1
        y = F.max_pool2d(
            x[:, :, : (windows - 1) * stride + kernel],
            self.kernel,
            self.stride,
            padding=(0, self.padding[1]),
        )
        self.buffer.set(x[:, :, windows * stride :])
        return y

    def carried(self):
        return self.buffer.carried()


class _OnlineAttentionPooling:
    """:class:`AttentionPooling` as an online softmax over time.

    Per (channel, mel) cell: the running maximum score ``m`` and the float64
    running sums of ``exp(score - m)`` and ``value * exp(score - m)``,
    rescaled by ``exp(m_old - m_new)`` whenever the maximum grows. The
    three accumulators are allocated once and updated in place.
    """

    def __init__(self, attention):
        self.attention = attention
        self.maximum = None
        self.weight_sum = None
        self.weighted_values = None

    def push(self, x):
        """Adds frames [1, C, t, M]."""
        scores = self.attention.score(x)[0]
        values = self.attention.value(x)[0]
        maximum = scores.amax(dim=1)
        if self.maximum is not None:
            torch.maximum(maximum, self.maximum, out=maximum)
        weights = torch.exp(scores - maximum[:, None])
        weight_sum = weights.sum(dim=1).double()
        weighted_values = (values * weights).sum(dim=1).double()
        if self.maximum is None:
            self.maximum = maximum
            self.weight_sum = weight_sum
            self.weighted_values = weighted_values
            return
        rescale = torch.exp((self.maximum - maximum).double())
        self.weight_sum.mul_(rescale).add_(weight_sum)
        self.weighted_values.mul_(rescale).add_(weighted_values)
        self.maximum.copy_(maximum)

    def pooled(self, dtype):
        """The pooled [C, M] matrix."""
        return (self.weighted_values / self.weight_sum).to(dtype)

    def carried(self):
        return [self.maximum, self.weight_sum, self.weighted_values]


def _check_structure(model):
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
        are regrouped into steps). The peak memory grows with it, the speed
        barely: for the 11K model on one CPU thread, a 1 s step peaks at
        about 4-6 MB above the model (most of it the 3x3 convs' unfold
        buffer, some 6 MB per second of step) and runs as fast as 10 s
        steps, 0.25 s steps peak at about 1 MB and run some 30% slower.

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
        with self._inference():
            return self.model.head(self._embed(make_chunks)[None])[0]

    def embed_chunks(self, make_chunks):
        """The utterance features [head.in_features] of a stream, as
        ``model.embed(wav[None])[0]``; arguments as :meth:`predict_chunks`.
        """
        with self._inference():
            return self._embed(make_chunks)

    def predict_file(self, path):
        """Predicts (arousal, dominance, valence) of an audio file read in
        chunks (channels averaged to mono, as ``read_audio`` does).

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

        def make_chunks():
            try:
                with sf.SoundFile(str(path)) as stream:
                    while True:
                        block = stream.read(
                            self.chunk_samples, dtype="float32", always_2d=True
                        )
                        if block.shape[0] == 0:
                            return
                        mono = (
                            block.mean(axis=1)
                            if block.shape[1] > 1
                            else block[:, 0]
                        )
                        if not np.isfinite(mono).all():
                            raise AudioError(
                                path, "contains NaN or Inf samples"
                            )
                        yield mono
            except (sf.LibsndfileError, RuntimeError, TypeError) as error:
                raise AudioError(
                    path, f"not a readable audio file ({error})"
                ) from None

        try:
            return self.predict_chunks(make_chunks)
        except _EmptyStreamError:
            raise AudioError(path, "contains no samples") from None

    @contextlib.contextmanager
    def _inference(self):
        # Eval mode for the BatchNorm running statistics; the caller's mode
        # is restored, so a model being trained can be streamed in between.
        training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.model.train(training)

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

    def _embed(self, make_chunks):
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
            stats = WaveformStatistics()
            for chunk in self._chunks(make_chunks, dtype, device):
                # Bounded pieces keep the float64 copy small.
                for piece in chunk.split(self.chunk_samples):
                    if not torch.isfinite(piece).all():
                        raise ValueError("the stream has NaN or Inf samples")
                    stats.update(piece)
            if stats.count == 0:
                raise _EmptyStreamError("the stream holds no samples")
            shift, scale = stats.normalizer(front_end.normalize.eps, dtype)
            shift, scale = shift.to(device), scale.to(device)
            expected = stats.count

        spectrogram = _StreamingSpectrogram(front_end)
        stages = [
            _StreamingConvBlock(block, f"blocks_full[{index}]")
            for index, block in enumerate(model.blocks_full)
        ]
        stages.append(_StreamingMaxPool(model.pool))
        stages += [
            _StreamingConvBlock(block, f"blocks_pooled[{index}]")
            for index, block in enumerate(model.blocks_pooled)
        ]
        attention = _OnlineAttentionPooling(model.attention)
        pending = torch.empty(self.chunk_samples, dtype=dtype, device=device)
        filled, total = 0, 0
        self.peak_carried_elements = 0

        def step(samples, final):
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
        return (
            f"make_chunks gave {expected} samples in the statistics pass and "
            f"{'at least ' if total > expected else ''}{total} in the "
            "feature pass; each call must return the same audio"
        )
