"""Wav2Small rearranged for fast CPU inference (the form that is exported).

The trained :class:`~speechbrain_wav2small.lobes.wav2small.Wav2Small`
computes the same function, but its layout costs onnxruntime about twice
the time on one core. Three changes make the float graph faster
(``benchmarks/inference.py`` measures it on a 10 s clip, one thread):

* **Channels padded to a multiple of 16** with zero filters. onnxruntime
  runs 3x3 convolutions in a blocked ``NCHWc`` layout of 16 channels (8
  with AVX2) and computes the padded lanes anyway; with 13 channels every
  convolution's output is converted back to plain ``NCHW`` for the next
  one, a full pass over each feature map (about a quarter of the time).
  Zero channels stay exactly zero through BatchNorm-free conv + ReLU and
  are dropped before the head.
* **Time as the last (contiguous) axis**: maps are [batch, channels, mel,
  time] instead of [..., time, mel]. The convolution kernels walk rows of
  thousands of frames instead of rows of 13-26 mel bands (whose edges
  cost as much as their middle), and the softmax over time runs along
  contiguous memory. The 3x3 kernels are transposed to match.
* **BatchNorm folded** into the convolutions, and **no masks** when the
  batch is not padded (``lengths=None``): the masks multiply by one yet
  cost a pass over every feature map. Padded batches keep them.

The weights are stored in the trained model's sizes (13 channels, so the
int8 file stays small) and padded inside the graph, where onnxruntime
folds the padding into constants when it loads the model.

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_wav2small.functional import conv_output_length, length_mask
from speechbrain_wav2small.lobes.wav2small import second_order_features

#: onnxruntime's NCHWc block is 16 channels with AVX-512, 8 with AVX2.
CHANNEL_MULTIPLE = 16


def _fold_batch_norm(conv, norm):
    """Weight and bias of ``norm(conv(x))`` as one convolution."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    weight = conv.weight * scale[:, None, None, None]
    bias = norm.bias - norm.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return weight, bias


class FastWav2Small(nn.Module):
    """Inference-only Wav2Small with the layout onnxruntime runs fastest.

    Arguments
    ---------
    model : Wav2Small
        A trained model in eval mode; its weights are copied (BatchNorm
        folded), so later changes to it are not seen.
    channel_multiple : int
        Channels are zero-padded to a multiple of this inside ``forward``.

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
    >>> model = Wav2Small().eval()
    >>> fast = FastWav2Small(model)
    >>> wavs = torch.randn(2, 16000)
    >>> bool(torch.allclose(fast(wavs), model(wavs), atol=1e-5))
    True
    >>> lengths = torch.tensor([1.0, 0.6])
    >>> bool(torch.allclose(fast(wavs, lengths), model(wavs, lengths),
    ...                     atol=1e-5))
    True
    """

    def __init__(self, model, channel_multiple=CHANNEL_MULTIPLE):
        super().__init__()
        if model.training:
            raise ValueError("FastWav2Small needs a model in eval mode")
        self.front_end = model.front_end
        self.channels = model.attention.value.out_channels
        self.padded_channels = -(-self.channels // channel_multiple) * (
            channel_multiple
        )
        self.n_full = len(model.blocks_full)
        blocks = list(model.blocks_full) + list(model.blocks_pooled)
        with torch.no_grad():
            for index, block in enumerate(blocks):
                weight, bias = _fold_batch_norm(block.conv, block.norm)
                # Kernels act on (mel, time) maps: swap their two axes.
                self.register_buffer(
                    f"conv{index}_weight", weight.transpose(2, 3).clone()
                )
                self.register_buffer(f"conv{index}_bias", bias.clone())
            for name in ("value", "score"):
                layer = getattr(model.attention, name)
                self.register_buffer(f"{name}_weight", layer.weight.clone())
                self.register_buffer(f"{name}_bias", layer.bias.clone())
        self.n_blocks = len(blocks)
        self.head = model.head

    def _padded(self, name, pad_inputs=True):
        """A stored weight or bias zero-padded to ``padded_channels``."""
        tensor = getattr(self, name)
        extra = self.padded_channels - self.channels
        if tensor.ndim == 1:
            return F.pad(tensor, (0, extra))
        extra_in = extra if pad_inputs else 0
        return F.pad(tensor, (0, 0, 0, 0, 0, extra_in, 0, extra))

    def _conv(self, x, index):
        """Block ``index``: padded 3x3 convolution (BatchNorm folded), ReLU."""
        weight = self._padded(f"conv{index}_weight", pad_inputs=index > 0)
        bias = self._padded(f"conv{index}_bias")
        return torch.relu(F.conv2d(x, weight, bias, padding=1))

    def forward(self, wavs, lengths=None):
        """Predicts arousal, dominance and valence: ``head`` on
        :meth:`embed`.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time].
        lengths : torch.Tensor, optional
            Relative lengths [batch] in (0, 1], only for padded batches;
            ``None`` skips the masks.

        Returns
        -------
        torch.Tensor
            Scores [batch, 3].
        """
        return self.head(self.embed(wavs, lengths))

    def embed(self, wavs, lengths=None):
        """The trained model's embeddings (the head's input), as
        :meth:`Wav2Small.embed
        <speechbrain_wav2small.lobes.wav2small.Wav2Small.embed>` gives them.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time].
        lengths : torch.Tensor, optional
            Relative lengths [batch] in (0, 1], only for padded batches;
            ``None`` skips the masks.

        Returns
        -------
        torch.Tensor
            Features [batch, head.in_features].

        Example
        -------
        >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
        >>> model = Wav2Small().eval()
        >>> wav = torch.randn(1, 8000)
        >>> bool(torch.allclose(FastWav2Small(model).embed(wav),
        ...                     model.embed(wav), atol=1e-5))
        True
        """
        features, frames = self.front_end(wavs, lengths)
        pooled = self.pool_features(
            features, None if lengths is None else frames
        )
        return self.embed_pooled(pooled)

    def embed_pooled(self, pooled):
        """Embeddings from attention-pooled maps; padded channels dropped.

        Arguments
        ---------
        pooled : torch.Tensor
            Output of :meth:`pool_features` [batch, padded_channels, mel].

        Returns
        -------
        torch.Tensor
            Features [batch, head.in_features].
        """
        return second_order_features(pooled[:, : self.channels])

    def pool_features(self, features, frame_counts=None):
        """Conv blocks, max pool and attention pooling over time.

        Arguments
        ---------
        features : torch.Tensor
            Log-mel features [batch, time, mel].
        frame_counts : torch.Tensor, optional
            Valid frames per utterance [batch], only for padded batches.

        Returns
        -------
        torch.Tensor
            Attention-pooled maps [batch, padded_channels, mel].
        """
        x = features.transpose(1, 2).unsqueeze(1)  # [batch, 1, mel, time]
        mask = None
        if frame_counts is not None:
            mask = length_mask(frame_counts, x.shape[3])[:, None, None, :]
            x = x * mask
        for index in range(self.n_blocks):
            if index == self.n_full:
                # ReLU outputs are >= 0, so masked zeros never win the max.
                x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
                if mask is not None:
                    frame_counts = conv_output_length(frame_counts, 3, 2, 1)
                    mask = length_mask(frame_counts, x.shape[3])
                    mask = mask[:, None, None, :]
                    # The last pooled frame can straddle the end.
                    x = x * mask
            x = self._conv(x, index)
            if mask is not None:
                x = x * mask
        scores = F.conv2d(
            x, self._padded("score_weight"), self._padded("score_bias")
        )
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        values = F.conv2d(
            x, self._padded("value_weight"), self._padded("value_bias")
        )
        return (values * torch.softmax(scores, dim=3)).sum(dim=3)
