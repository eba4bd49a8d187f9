"""MobileNet students: a timm MobileNet on a log-mel image, 3 outputs.

The network is timm's own (MobileNetV3 / MobileNetV4 builders), with a
1-channel stem and a 3-output classifier. Padding awareness is added from
the outside with hooks rather than by copying timm's blocks:

* before every convolution whose kernel spans several frames, frames past
  each utterance's end are zeroed (what a clip alone sees as zero padding);
* after every convolution that strides in time, the valid frame counts are
  updated with that convolution's own geometry;
* squeeze-and-excitation gates (MobileNetV3) squeeze valid frames only;
* the global pooling averages valid frames only, then timm's head runs.

:meth:`MobileNetStudent.embed` stops before timm's classifier (its
pre-logits: 1024 or 1280 features), and ``forward`` is that classifier
(:attr:`MobileNetStudent.head`) on them.

What remains is float rounding: the batch and the clip alone run different
convolution kernels on different shapes. The tests measure it.

Authors
 * speechbrain-wav2small contributors 2026
"""

import timm
from torch import nn

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.functional import conv_output_length, length_mask
from speechbrain_wav2small.lobes.frontend import LogMelFrontEnd

#: The four MobileNets of the paper's student set (timm model names).
MOBILENET_ARCHITECTURES = (
    "mobilenetv4_conv_small",
    "mobilenetv4_conv_medium",
    "mobilenetv3_small_100",
    "mobilenetv3_large_100",
)


class MobileNetStudent(nn.Module):
    """A timm MobileNet on a log-mel image, padding-aware, 3 outputs.

    Arguments
    ---------
    architecture : str
        A timm model name, e.g. ``"mobilenetv4_conv_small"``.
    sample_rate : int
        Input sample rate in Hz.
    n_fft : int
        Front-end window in samples (144: 9 ms at 16 kHz).
    hop_length : int
        Front-end hop in samples (72).
    n_mels : int
        Mel bands, the image's height.
    f_min, f_max : float
        Mel frequency range in Hz.
    n_outputs : int
        Regression outputs.
    drop_rate : float
        Dropout before timm's classifier (training only).
    drop_path_rate : float
        timm's stochastic depth: the chance, growing with depth up to this
        value, that a residual block is skipped in training (0: never).
    stem_stride : int
        Stride (time and mel) of timm's stem convolution: timm builds it
        with 2; 1 keeps twice the time resolution through the network at
        about four times the multiply-accumulates.

    Example
    -------
    >>> import torch
    >>> model = MobileNetStudent("mobilenetv3_small_100").eval()
    >>> model(torch.randn(2, 16000), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        architecture="mobilenetv4_conv_small",
        sample_rate=SAMPLE_RATE,
        n_fft=144,
        hop_length=72,
        n_mels=64,
        f_min=0.0,
        f_max=None,
        n_outputs=3,
        drop_rate=0.0,
        drop_path_rate=0.0,
        stem_stride=2,
    ):
        super().__init__()
        self.architecture = architecture
        self.front_end = LogMelFrontEnd(
            sample_rate, n_fft, hop_length, n_mels, f_min, f_max
        )
        self.backbone = timm.create_model(
            architecture,
            pretrained=False,
            in_chans=1,
            num_classes=n_outputs,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
        )
        # Set before the hooks below read the strides.
        self.backbone.conv_stem.stride = (stem_stride, stem_stride)
        # Valid frames per utterance at the current depth, set only while
        # forward() runs; the hooks below read and update it.
        self._frame_counts = None
        for module in self.backbone.modules():
            if isinstance(module, nn.Conv2d):
                if module.kernel_size[0] > 1:
                    module.register_forward_pre_hook(self._mask_conv_input)
                if module.stride[0] > 1:
                    module.register_forward_hook(self._update_frame_counts)
            elif _is_squeeze_excite(module):
                self._make_squeeze_masked(module)

    def _masked_mean(self, x):
        """Mean over valid frames and all mel bins: [batch, ch, 1, 1]."""
        mask = length_mask(self._frame_counts, x.shape[2])
        weights = mask[:, None, :, None].to(x.dtype)
        total = (x * weights).sum(dim=(2, 3), keepdim=True)
        return total / (weights.sum(dim=2, keepdim=True) * x.shape[3])

    def _make_squeeze_masked(self, squeeze_excite):
        """Hooks ``squeeze_excite`` so that it squeezes valid frames only."""
        # timm's SqueezeExcite averages the whole map before conv_reduce;
        # compute the masked average on entry and hand it to conv_reduce in
        # place of the plain one.
        masked = {}

        def keep_masked_mean(module, inputs):
            """Stores the masked mean of the gate's input (padded batch)."""
            if self._frame_counts is not None:
                masked["mean"] = self._masked_mean(inputs[0])

        def use_masked_mean(module, inputs):
            """Feeds conv_reduce the stored mean instead of timm's own."""
            if "mean" in masked:
                return (masked.pop("mean"),)
            return None

        squeeze_excite.register_forward_pre_hook(keep_masked_mean)
        squeeze_excite.conv_reduce.register_forward_pre_hook(use_masked_mean)

    def _mask_conv_input(self, conv, inputs):
        """Zeroes the frames past each utterance's end before ``conv``."""
        if self._frame_counts is None:
            return None
        x = inputs[0]
        mask = length_mask(self._frame_counts, x.shape[2])
        return (x * mask[:, None, :, None].to(x.dtype),)

    def _update_frame_counts(self, conv, inputs, output):
        """Moves the valid frame counts through ``conv``'s time stride."""
        if self._frame_counts is not None:
            self._frame_counts = conv_output_length(
                self._frame_counts,
                conv.kernel_size[0],
                conv.stride[0],
                conv.padding[0],
                conv.dilation[0],
            )

    @property
    def head(self):
        """timm's classifier: embeddings [batch, F] -> scores [batch, 3].

        Example
        -------
        >>> MobileNetStudent("mobilenetv3_small_100").head.in_features
        1024
        """
        return self.backbone.classifier

    def embed(self, wavs, lengths=None):
        """The pooled features timm's classifier reads (its pre-logits).

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms [batch, time], zero-padded.
        lengths : torch.Tensor, optional
            Relative lengths [batch] in (0, 1]; ``None`` means unpadded.

        Returns
        -------
        torch.Tensor
            Features [batch, head.in_features].

        Example
        -------
        >>> import torch
        >>> model = MobileNetStudent("mobilenetv3_small_100").eval()
        >>> model.embed(torch.randn(1, 8000)).shape
        torch.Size([1, 1024])
        """
        features, frames = self.front_end(wavs, lengths)
        x = features.unsqueeze(1)  # [batch, 1, time, mel]
        self._frame_counts = frames
        try:
            x = self.backbone.forward_features(x)
            pooled = self._masked_mean(x)
        finally:
            self._frame_counts = None
        # timm's global pool is an identity on a 1x1 map, so its head (conv
        # head, norm, activation, dropout) runs unchanged up to the
        # classifier.
        return self.backbone.forward_head(pooled, pre_logits=True)

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


def _is_squeeze_excite(module):
    """True for timm's squeeze-and-excitation gates (duck-typed)."""
    return all(
        hasattr(module, name) for name in ("conv_reduce", "conv_expand", "gate")
    )
