"""Wav2Small's layers run on one chunk of audio at a time.

Each piece carries, from one chunk to the next, the left context its layer
needs, and at the true end of the clip appends the padding the whole-clip
layer sees, so every frame it gives is a frame of the whole-clip model.
:class:`~speechbrain_wav2small.inference.streaming.StreamingWav2Small`
chains them in its feature pass: :class:`StreamingSpectrogram`,
:class:`StreamingConvBlock` and :class:`StreamingMaxPool` over time, then
:class:`OnlineAttentionPooling`.

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


def _pair(value):
    """``value`` as a 2-tuple (a layer's int or tuple size argument)."""
    return tuple(value) if isinstance(value, tuple | list) else (value, value)


class CarriedSlices:
    """Up to ``capacity`` slices along ``dim`` kept for the next step, in
    storage allocated once.

    Copying into one small allocation, rather than keeping a fresh slice
    every step, stops the carried state from pinning the allocator's heap
    between a step's large temporaries: with glibc, fresh slices made the
    peak resident memory creep up by a few MB over an hour of audio.

    Arguments
    ---------
    capacity : int
        The most slices ever carried.
    dim : int
        The dimension they are cut along (time).

    Example
    -------
    >>> carry = CarriedSlices(capacity=2, dim=0)
    >>> carry.set(torch.tensor([1.0, 2.0]))
    >>> carry.cat(torch.tensor([3.0]))
    tensor([1., 2., 3.])
    >>> carry.set(torch.tensor([3.0]))
    >>> carry.get()
    tensor([3.])
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
        """The tensors held between steps (for the memory count)."""
        return [self.storage]


class StreamingSpectrogram:
    """Log-mel frames of a normalised waveform pushed in pieces.

    Carries the samples from the start of the next STFT window on; at the
    end, a clip shorter than one window is zero-padded to one window, as
    :class:`~speechbrain_wav2small.lobes.frontend.LogMelFrontEnd` does.

    Arguments
    ---------
    front_end : LogMelFrontEnd
        The front end whose spectrogram and log-mel run on each piece.

    Example
    -------
    >>> from speechbrain_wav2small.lobes.frontend import LogMelFrontEnd
    >>> front_end = LogMelFrontEnd(normalize=False)
    >>> streaming = StreamingSpectrogram(front_end)
    >>> wav = torch.randn(1000)
    >>> head = streaming.push(wav[:500])
    >>> tail = streaming.push(wav[500:], final=True)
    >>> streamed = torch.cat([head, tail], dim=2)[:, 0]
    >>> whole, _ = front_end(wav[None])
    >>> bool(torch.allclose(streamed, whole, atol=1e-4))
    True
    """

    def __init__(self, front_end):
        self.spectrogram = front_end.spectrogram
        self.log_mel = front_end.log_mel
        self.n_fft = front_end.n_fft
        self.hop = front_end.hop_length
        self.buffer = CarriedSlices(self.n_fft, dim=0)
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
        """The tensors held between steps (for the memory count)."""
        return self.buffer.carried()


class _PaddedTimeStage:
    """A layer over time slices whose clip is padded at both ends.

    Carries up to ``capacity`` frames [1, C, t, M] between steps; before
    the first frame and after the last one, ``padding`` frames filled with
    ``pad_value`` stand for the whole-clip layer's time padding.
    """

    def __init__(self, kernel, padding, capacity, pad_value):
        self.kernel = kernel
        self.padding = padding
        self.pad_value = pad_value
        self.context = CarriedSlices(capacity, dim=2)

    def _padding_frames(self, like):
        """``padding`` frames of ``pad_value`` shaped like ``like``."""
        shape = (*like.shape[:2], self.padding, like.shape[3])
        return like.new_full(shape, self.pad_value)

    def _extend(self, x, final):
        """The carried frames, ``x`` and (when ``final``) the end padding,
        or None when they are fewer than one kernel (then all carried)."""
        if x is None and not final:
            return None
        if self.context.get() is None:
            if x is None:
                return None
            self.context.set(self._padding_frames(x))
        end = self._padding_frames(self.context.get()) if final else None
        x = self.context.cat(x, end)
        if x.shape[2] < self.kernel:
            self.context.set(x)
            return None
        return x

    def carried(self):
        """The tensors held between steps (for the memory count)."""
        return self.context.carried()


class StreamingConvBlock(_PaddedTimeStage):
    """A padded conv block (conv, norm, activation) over time slices.

    The conv runs without time padding on the carried ``2 * padding``
    frames plus the new ones; ``padding`` zero frames stand for the clip's
    start and end, so each output frame lags its input by ``padding``.

    Arguments
    ---------
    block : torch.nn.Module
        Holds ``conv`` (a stride-1 'same' ``Conv2d``), ``norm`` and
        ``activation``.
    name : str
        The block's name in the model, for the error messages.

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import ConvBlock
    >>> block = ConvBlock(1, 4).eval()
    >>> streaming = StreamingConvBlock(block, "block")
    >>> x = torch.randn(1, 1, 9, 26)
    >>> head = streaming.push(x[:, :, :4])
    >>> tail = streaming.push(x[:, :, 4:], final=True)
    >>> with torch.no_grad():
    ...     same = torch.allclose(torch.cat([head, tail], dim=2), block(x))
    >>> same
    True
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
        super().__init__(kernel[0], padding[0], 2 * padding[0], 0.0)
        self.block = block
        self.conv = conv

    def push(self, x, final=False):
        """Maps new frames [1, C, t, M] (or None) to output frames or None."""
        x = self._extend(x, final)
        if x is None:
            return None
        conv = self.conv
        y = F.conv2d(
            x, conv.weight, conv.bias, padding=(0, _pair(conv.padding)[1])
        )
        y = self.block.activation(self.block.norm(y))
        self.context.set(x[:, :, x.shape[2] - 2 * self.padding :])
        return y


class StreamingMaxPool(_PaddedTimeStage):
    """``nn.MaxPool2d`` over time slices, windows aligned as in the clip.

    Carries the frames from the start of the next pooling window on, so a
    chunk boundary anywhere (even or odd frame) gives the same windows as
    the whole clip; ``-inf`` frames stand for the time padding.

    Arguments
    ---------
    pool : torch.nn.MaxPool2d
        The pool, with dilation 1, no ceil mode and no indices.

    Example
    -------
    >>> pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    >>> streaming = StreamingMaxPool(pool)
    >>> x = torch.randn(1, 2, 9, 26)
    >>> head = streaming.push(x[:, :, :4])
    >>> tail = streaming.push(x[:, :, 4:], final=True)
    >>> torch.equal(torch.cat([head, tail], dim=2), pool(x))
    True
    """

    def __init__(self, pool):
        if not isinstance(pool, nn.MaxPool2d):
            raise ValueError("Wav2Small.pool must be an nn.MaxPool2d")
        kernel = _pair(pool.kernel_size)
        stride = _pair(pool.stride or pool.kernel_size)
        padding = _pair(pool.padding)
        if (
            _pair(pool.dilation) != (1, 1)
            or pool.ceil_mode
            or pool.return_indices
            or stride[0] > kernel[0]
        ):
            raise ValueError(
                "Wav2Small.pool must have dilation 1, ceil_mode=False, no "
                "indices and a time stride no larger than its kernel"
            )
        super().__init__(
            kernel[0], padding[0], max(kernel[0] - 1, 0), float("-inf")
        )
        self.kernel_size = kernel
        self.stride = stride
        self.mel_padding = padding[1]

    def push(self, x, final=False):
        """Maps new frames [1, C, t, M] (or None) to pooled frames or None."""
        x = self._extend(x, final)
        if x is None:
            return None
        kernel, stride = self.kernel, self.stride[0]
        windows = (x.shape[2] - kernel) // stride + 1
        y = F.max_pool2d(
            x[:, :, : (windows - 1) * stride + kernel],
            self.kernel_size,
            self.stride,
            padding=(0, self.mel_padding),
        )
        self.context.set(x[:, :, windows * stride :])
        return y


class OnlineAttentionPooling:
    """:class:`~speechbrain_wav2small.lobes.wav2small.AttentionPooling` as
    an online softmax over time.

    Per (channel, mel) cell: the running maximum score ``m`` and the float64
    running sums of ``exp(score - m)`` and ``value * exp(score - m)``,
    rescaled by ``exp(m_old - m_new)`` whenever the maximum grows. The
    three accumulators are allocated once and updated in place.

    Arguments
    ---------
    attention : AttentionPooling
        The pooling whose ``score`` and ``value`` projections run.

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import AttentionPooling
    >>> attention = AttentionPooling(4)
    >>> online = OnlineAttentionPooling(attention)
    >>> x = torch.randn(1, 4, 10, 6)
    >>> with torch.no_grad():
    ...     online.push(x[:, :, :3])
    ...     online.push(x[:, :, 3:])
    ...     whole = attention(x)[0]
    >>> bool(torch.allclose(online.pooled(torch.float32), whole, atol=1e-6))
    True
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
        """The tensors held between steps (for the memory count)."""
        return [self.maximum, self.weight_sum, self.weighted_values]
