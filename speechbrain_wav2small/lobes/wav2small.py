"""Wav2Small: a VGG-style student of about 10K-72K parameters.

Topology of the authors' public release (arXiv 2408.13920, "Wav2Small 2.0"):
log-mel image -> 3 conv blocks at full resolution -> 3x3/2 max pool ->
4 conv blocks -> attention pooling over time -> [matrix, channel Gram] ->
linear head (arousal, dominance, valence).

Unlike the released code, this implementation is padding-aware: padded
frames are zeroed after every layer (which is exactly what a convolution's
zero padding shows a clip that is alone) and excluded from the softmax, so a
padded batch gives the same outputs as each clip on its own.

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch
from torch import nn

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.functional import conv_output_length, length_mask
from speechbrain_wav2small.lobes.frontend import LogMelFrontEnd


class ConvBlock(nn.Module):
    """Conv2d 3x3 (no bias) -> BatchNorm2d -> ReLU.

    Arguments
    ---------
    in_channels : int
        Channels of the input map.
    out_channels : int
        Channels of the output map.

    Example
    -------
    >>> block = ConvBlock(1, 13)
    >>> block(torch.randn(2, 1, 50, 26)).shape
    torch.Size([2, 13, 50, 26])
    """

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size=3, padding=1, bias=False
        )
        self.norm = nn.BatchNorm2d(out_channels)
        self.activation = nn.ReLU()

    def forward(self, x):
        """Applies the block; the 3x3 convolution keeps the map's size.

        Arguments
        ---------
        x : torch.Tensor
            Input map [batch, in_channels, time, mel].

        Returns
        -------
        torch.Tensor
            Output map [batch, out_channels, time, mel].
        """
        return self.activation(self.norm(self.conv(x)))


class AttentionPooling(nn.Module):
    """Softmax-over-time attention: ``sum_t value(x) * softmax_t(score(x))``.

    Both projections are 1x1 convolutions, so each (channel, mel) cell gets
    its own attention weights over time. Padded frames get zero weight.

    Arguments
    ---------
    channels : int
        Number of input (and output) channels.

    Example
    -------
    >>> pool = AttentionPooling(13)
    >>> x = torch.randn(2, 13, 40, 13)
    >>> mask = torch.ones(2, 40, dtype=torch.bool)
    >>> pool(x, mask).shape
    torch.Size([2, 13, 13])
    """

    def __init__(self, channels):
        super().__init__()
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        self.score = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x, frame_mask=None):
        """Pools over time, each (channel, mel) cell with its own weights.

        Arguments
        ---------
        x : torch.Tensor
            Feature maps [batch, channels, time, mel].
        frame_mask : torch.Tensor, optional
            Boolean [batch, time], True on valid frames; ``None`` means
            every frame is valid.

        Returns
        -------
        torch.Tensor
            Pooled maps [batch, channels, mel].
        """
        scores = self.score(x)
        if frame_mask is not None:
            scores = scores.masked_fill(
                ~frame_mask[:, None, :, None], torch.finfo(scores.dtype).min
            )
        weights = torch.softmax(scores, dim=2)
        return (self.value(x) * weights).sum(dim=2)


def second_order_features(pooled):
    """Each channel's row of the pooled matrix followed by its Gram row.

    Arguments
    ---------
    pooled : torch.Tensor
        [batch, channels, mel].

    Returns
    -------
    torch.Tensor
        [batch, channels * (mel + channels)].

    Example
    -------
    >>> second_order_features(torch.randn(2, 13, 13)).shape
    torch.Size([2, 338])
    """
    gram = pooled @ pooled.transpose(1, 2)
    return torch.cat([pooled, gram], dim=2).flatten(1)


class Wav2Small(nn.Module):
    """The Wav2Small student: waveform in, (arousal, dominance, valence) out.

    Arguments
    ---------
    channels : int
        Width of every conv block (13 in the authors' release).
    blocks_before_pool : int
        Conv blocks at full time-frequency resolution.
    blocks_after_pool : int
        Conv blocks after the 3x3/2 max pool.
    sample_rate : int
        Input sample rate in Hz.
    n_fft : int
        Front-end window in samples.
    hop_length : int
        Front-end hop in samples.
    n_mels : int
        Mel bands.
    f_min, f_max : float
        Mel frequency range in Hz (``f_max`` defaults to Nyquist).
    n_outputs : int
        Regression outputs (3: arousal, dominance, valence).

    Example
    -------
    >>> model = Wav2Small()
    >>> sum(p.numel() for p in model.parameters() if p.requires_grad)
    10806
    >>> model.eval()(torch.randn(2, 16000), torch.tensor([1.0, 0.7])).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        channels=13,
        blocks_before_pool=3,
        blocks_after_pool=4,
        sample_rate=SAMPLE_RATE,
        n_fft=64,
        hop_length=32,
        n_mels=26,
        f_min=0.0,
        f_max=None,
        n_outputs=3,
    ):
        super().__init__()
        if blocks_before_pool < 1:
            raise ValueError("Wav2Small needs at least one block before pool")
        self.front_end = LogMelFrontEnd(
            sample_rate, n_fft, hop_length, n_mels, f_min, f_max
        )
        widths = [1] + [channels] * (blocks_before_pool + blocks_after_pool)
        blocks = [
            ConvBlock(i, o)
            for i, o in zip(widths[:-1], widths[1:], strict=True)
        ]
        self.blocks_full = nn.ModuleList(blocks[:blocks_before_pool])
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.blocks_pooled = nn.ModuleList(blocks[blocks_before_pool:])
        self.attention = AttentionPooling(channels)
        pooled_mels = (n_mels + 1) // 2
        self.head = nn.Linear(channels * (pooled_mels + channels), n_outputs)

    @staticmethod
    def _masked_blocks(blocks, x, frame_mask):
        """Runs ``blocks`` on ``x``, zeroing padded frames after each one."""
        # Zero padded frames after every block: BatchNorm and ReLU would
        # turn them into non-zero values that the next 3x3 conv sees, where
        # a clip alone sees its zero padding.
        mask = frame_mask[:, None, :, None].to(x.dtype)
        x = x * mask
        for block in blocks:
            x = block(x) * mask
        return x

    def embed(self, wavs, lengths=None):
        """Second-order utterance features, the input of the linear head
        (the model's embeddings: 338 for the released size).

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time], zero-padded.
        lengths : torch.Tensor, optional
            Relative lengths [batch] in (0, 1]; ``None`` means unpadded
            (and skips the masks).

        Returns
        -------
        torch.Tensor
            Features [batch, head.in_features].

        Example
        -------
        >>> model = Wav2Small().eval()
        >>> model.embed(torch.randn(1, 8000)).shape
        torch.Size([1, 338])
        """
        features, frames = self.front_end(wavs, lengths)
        x = features.unsqueeze(1)  # [batch, 1, time, mel]
        if lengths is None:
            # No padding: the masks would multiply by one, yet cost a pass
            # over every full-resolution feature map (a fifth of the
            # onnxruntime time of a 10 s clip).
            for block in self.blocks_full:
                x = block(x)
            x = self.pool(x)
            for block in self.blocks_pooled:
                x = block(x)
            return second_order_features(self.attention(x))
        x = self._masked_blocks(
            self.blocks_full, x, length_mask(frames, x.shape[2])
        )
        # Values are >= 0 after ReLU, so the masked zeros never win the max
        # over the -inf padding a clip alone gets.
        x = self.pool(x)
        frames = conv_output_length(frames, 3, stride=2, padding=1)
        frame_mask = length_mask(frames, x.shape[2])
        x = self._masked_blocks(self.blocks_pooled, x, frame_mask)
        return second_order_features(self.attention(x, frame_mask))

    def forward(self, wavs, lengths=None):
        """Predicts arousal, dominance and valence: :attr:`head` on
        :meth:`embed`.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time], zero-padded.
        lengths : torch.Tensor, optional
            Relative lengths [batch] in (0, 1]; ``None`` means unpadded.

        Returns
        -------
        torch.Tensor
            Scores [batch, n_outputs].
        """
        return self.head(self.embed(wavs, lengths))
