"""The teachers: big speech-emotion regressors that label audio for students.

Two public models and their combination (arXiv 2408.13920):

* :class:`DawnTeacher`, audEERING's wav2vec2-large-robust pruned to 12 layers
  (``audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim``);
* :class:`OdysseyTeacher`, the Odyssey 2024 challenge baseline on WavLM-large
  (``3loi/SER-Odyssey-Baseline-WavLM-Multi-Attributes``);
* :class:`EnsembleTeacher`, the weighted mean of members: the paper's teacher.

All map ``wavs [batch, time]`` (16 kHz) and relative ``lengths [batch]`` to
``[batch, 3]`` in the order arousal, dominance, valence. They are

* frozen and always in eval mode: a :class:`speechbrain.core.Brain` puts its
  modules back in train mode every epoch, which would switch dropout on and
  make the labels random (``train()`` is overridden while frozen);
* padding-aware: a clip alone gives the same output as the same clip inside a
  zero-padded batch, because normalisation statistics, attention and pooling
  all ignore padded samples and frames;
* bounded in memory: a clip longer than ``max_window_seconds`` is cut into
  equal windows no longer than that, each window is labelled as a clip of
  its own and the outputs are averaged, weighted by window duration;
* mixed-precision safe: under ``torch.autocast`` the backbone runs in low
  precision while pooling and head run in float32, so outputs are float32;
* device safe: every tensor a teacher builds is created on the device of
  its input (``tests/test_devices.py`` checks it without a GPU).

Module attribute names reproduce the checkpoints' keys, so the state dict of
a public checkpoint loads strictly. Loading from disk or from the hub lives in
:mod:`speechbrain_wav2small.teachers`; this module does no file I/O.

Authors
 * speechbrain-wav2small contributors 2026
"""

import math
import warnings

import torch
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.functional import (
    at_least_float32,
    autocast_off,
    conv_output_length,
    length_mask,
    normalize_waveform,
    relative_to_absolute,
)

#: Backbone config fields that change what a teacher computes. Only these
#: enter :meth:`TransformerTeacher.inference_config` (and so the fingerprint):
#: bookkeeping fields such as ``transformers_version`` or ``architectures``
#: differ between a config built in memory and one read from disk.
_BACKBONE_FIELDS = (
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "layer_norm_eps",
    "feat_extract_norm",
    "feat_extract_activation",
    "conv_dim",
    "conv_stride",
    "conv_kernel",
    "conv_bias",
    "num_conv_pos_embeddings",
    "num_conv_pos_embedding_groups",
    "do_stable_layer_norm",
    "num_feat_extract_layers",
    "num_buckets",
    "max_bucket_distance",
)


class FrozenTeacher(nn.Module):
    """Base of every teacher: frozen and held in eval mode unless unfrozen.

    A frozen teacher ignores ``train(True)``: dropout, layer drop and
    SpecAugment stay off whoever calls it. :meth:`unfreeze` makes it an
    ordinary trainable module again (for fine-tuning a teacher); call
    :meth:`freeze` before labelling or saving.

    Arguments
    ---------
    frozen : bool
        Start frozen (the default) or trainable.

    Example
    -------
    >>> class Scale(FrozenTeacher):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.linear = torch.nn.Linear(1, 3)
    ...         self.freeze()
    >>> teacher = Scale().train()
    >>> teacher.training, teacher.linear.weight.requires_grad
    (False, False)
    >>> teacher.unfreeze().train().training
    True
    """

    def __init__(self, frozen=True):
        super().__init__()
        self.frozen = frozen

    def freeze(self):
        """No gradients and eval mode from now on; returns ``self``."""
        self.frozen = True
        self.requires_grad_(False)
        return super().train(False)

    def unfreeze(self):
        """Trainable again (for fine-tuning); returns ``self``."""
        self.frozen = False
        self.requires_grad_(True)
        return self

    def train(self, mode=True):
        """Sets train mode, except that a frozen teacher stays in eval.

        Arguments
        ---------
        mode : bool
            Train (True) or eval (False) mode, as for
            :meth:`torch.nn.Module.train`.

        Returns
        -------
        FrozenTeacher
            ``self``.
        """
        return super().train(mode and not self.frozen)


class WindowedTeacher(FrozenTeacher):
    """A frozen teacher that labels long clips window by window.

    Subclasses implement :meth:`forward_clips`, which sees clips no longer
    than the window, and :attr:`min_samples`. :meth:`forward` does the
    windowing: a clip of ``n > window`` samples is cut into
    ``k = ceil(n / window)`` consecutive windows of near-equal length (equal
    windows rather than full windows plus a short tail, because a very short
    tail would get as much say per second as the rest from very little
    context); the window outputs are averaged weighted by their length.
    Windows are run in chunks of at most ``batch`` windows, so a one-hour
    clip costs the memory of one window, not of one hour.

    Arguments
    ---------
    max_window_seconds : float or None
        Longest stretch of audio the backbone sees at once; ``None`` or 0
        disables windowing.
    frozen : bool
        See :class:`FrozenTeacher`.

    Example
    -------
    >>> class Mean(WindowedTeacher):
    ...     min_samples = 1
    ...     def forward_clips(self, wavs, counts):
    ...         mask = torch.arange(wavs.shape[1]) < counts[:, None]
    ...         mean = (wavs * mask).sum(dim=1) / counts
    ...         return mean[:, None].expand(-1, 3)
    >>> teacher = Mean(max_window_seconds=1.0)
    >>> wavs = torch.rand(1, 40000)  # 2.5 s: three windows of 0.83 s
    >>> torch.allclose(teacher(wavs), wavs.mean().expand(1, 3))
    True
    """

    def __init__(self, max_window_seconds=12.0, frozen=True):
        super().__init__(frozen=frozen)
        self.max_window_seconds = (
            float(max_window_seconds) if max_window_seconds else None
        )

    @property
    def max_window_samples(self):
        """The window in samples at 16 kHz, or ``None`` when unbounded."""
        if self.max_window_seconds is None:
            return None
        return int(round(self.max_window_seconds * SAMPLE_RATE))

    @property
    def min_samples(self):
        """Shortest clip (samples) that gives at least one backbone frame."""
        raise NotImplementedError

    def _check_window(self):
        """Refuses a window too short to give every equal window a frame."""
        window = self.max_window_samples
        if window is not None and window < 2 * self.min_samples:
            # Equal windows are at least window / 2 long: each must still
            # give the backbone a frame.
            raise ValueError(
                f"max_window_seconds={self.max_window_seconds} is too short: "
                f"windows must hold at least {2 * self.min_samples} samples"
            )

    def forward(self, wavs, lengths=None):
        """Labels a batch.

        Arguments
        ---------
        wavs : torch.Tensor
            Raw 16 kHz waveforms [batch, time], zero-padded.
        lengths : torch.Tensor, optional
            Relative lengths [batch] in (0, 1] (SpeechBrain convention).

        Returns
        -------
        torch.Tensor
            [batch, 3]: arousal, dominance, valence.
        """
        if wavs.dim() != 2:
            raise ValueError(
                f"expected wavs [batch, time], got shape {tuple(wavs.shape)}"
            )
        counts = sample_counts(wavs, lengths)
        too_short = (counts < self.min_samples).nonzero().flatten().tolist()
        if too_short:
            raise ValueError(
                f"clips {too_short} have fewer than {self.min_samples} "
                "samples, the receptive field of the teacher's first frame"
            )
        window = self.max_window_samples
        if window is None or int(counts.max()) <= window:
            return self.forward_clips(wavs, counts)
        return self._forward_windows(wavs, counts, window)

    def _forward_windows(self, wavs, counts, window):
        """Labels clips longer than ``window`` as duration-weighted means of
        their equal windows, at most a batch of windows at a time."""
        segments = []  # (clip index, first sample, number of samples)
        for clip, n_samples in enumerate(counts.tolist()):
            n_windows = math.ceil(n_samples / window)
            bounds = [n_samples * j // n_windows for j in range(n_windows + 1)]
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
                segments.append((clip, start, stop - start))
        total = wavs.new_zeros(wavs.shape[0], len(DIMENSIONS))
        weight = wavs.new_zeros(wavs.shape[0], 1)
        chunk_size = wavs.shape[0]
        for first in range(0, len(segments), chunk_size):
            chunk = segments[first : first + chunk_size]
            longest = max(size for _, _, size in chunk)
            batch = wavs.new_zeros(len(chunk), longest)
            for row, (clip, start, size) in enumerate(chunk):
                batch[row, :size] = wavs[clip, start : start + size]
            sizes = torch.tensor(
                [size for _, _, size in chunk], device=wavs.device
            )
            outputs = self.forward_clips(batch, sizes)
            clips = torch.tensor(
                [clip for clip, _, _ in chunk], device=wavs.device
            )
            sizes = sizes.to(wavs.dtype)
            total = total.index_add(0, clips, outputs * sizes.unsqueeze(1))
            weight = weight.index_add(0, clips, sizes.unsqueeze(1))
        return total / weight

    def forward_clips(self, wavs, counts):
        """Labels clips no longer than the window (implemented by subclasses).

        Arguments
        ---------
        wavs : torch.Tensor
            Raw 16 kHz waveforms [batch, time], zero-padded.
        counts : torch.Tensor
            Valid samples of each row [batch] (long).

        Returns
        -------
        torch.Tensor
            [batch, 3]: arousal, dominance, valence.
        """
        raise NotImplementedError


def sample_counts(wavs, lengths):
    """Valid samples per row from SpeechBrain's relative lengths.

    Computed in float64 on the CPU: float32 relative lengths lose whole
    samples beyond 2**24 samples (17 minutes at 16 kHz).

    Arguments
    ---------
    wavs : torch.Tensor
        Waveforms [batch, time].
    lengths : torch.Tensor or None
        Relative lengths [batch] in (0, 1]; ``None`` means full length.

    Returns
    -------
    torch.Tensor
        Valid samples per row [batch] (long), on the device of ``wavs``.

    Example
    -------
    >>> sample_counts(torch.zeros(2, 8), torch.tensor([1.0, 0.5]))
    tensor([8, 4])
    """
    if lengths is None:
        return torch.full(
            (wavs.shape[0],),
            wavs.shape[1],
            dtype=torch.long,
            device=wavs.device,
        )
    relative = lengths.detach().to("cpu", torch.float64)
    return relative_to_absolute(relative, wavs.shape[1]).to(wavs.device)


class TransformerTeacher(WindowedTeacher):
    """Shared plumbing of the two transformer teachers.

    Maps sample counts to frame counts with the backbone's convolution
    arithmetic, decides whether padding can be masked, and runs the backbone.

    With a layer-normalised feature extractor (``feat_extract_norm="layer"``,
    as in both public teachers) every valid frame depends on valid samples
    only, and transformers zeroes padded frames before the positional
    convolution and masks them out of attention: a padded batch is exact.
    A group-normalised extractor (base wav2vec2) normalises each channel
    over the whole padded time axis, which no mask can undo: such a backbone
    is run one clip at a time, without padding.

    Example
    -------
    >>> from speechbrain_wav2small.teachers import build_teacher
    >>> teacher = build_teacher("dawn", seed=0)
    >>> isinstance(teacher, TransformerTeacher)
    True
    >>> teacher.masks_padding, teacher.min_samples
    (True, 400)
    """

    def _init_backbone_checks(self, config):
        """Refuses adapters; notes whether padding can be masked."""
        if getattr(config, "add_adapter", False):
            raise ValueError("backbones with an adapter are not supported")
        self.masks_padding = config.feat_extract_norm == "layer"

    @property
    def backbone(self):
        """The transformers backbone module."""
        raise NotImplementedError

    @property
    def config(self):
        """The backbone's transformers config."""
        return self.backbone.config

    @property
    def min_samples(self):
        """Shortest clip (samples) that gives one frame: the receptive field."""
        field = 1
        for kernel, stride in reversed(
            list(
                zip(
                    self.config.conv_kernel,
                    self.config.conv_stride,
                    strict=True,
                )
            )
        ):
            field = (field - 1) * stride + kernel
        return field

    def frame_counts(self, counts):
        """Backbone frames computed from ``counts`` valid samples.

        Arguments
        ---------
        counts : torch.Tensor
            Valid samples per clip [batch] (long).

        Returns
        -------
        torch.Tensor
            Frames of the backbone's output per clip [batch] (long).

        Example
        -------
        >>> from speechbrain_wav2small.teachers import build_teacher
        >>> teacher = build_teacher("dawn", seed=0)
        >>> teacher.frame_counts(torch.tensor([400, 16000])).tolist()
        [1, 49]
        """
        frames = counts
        for kernel, stride in zip(
            self.config.conv_kernel, self.config.conv_stride, strict=True
        ):
            frames = conv_output_length(frames, kernel, stride)
        return frames

    def encode(self, inputs, counts):
        """Runs the backbone on prepared inputs, padding-aware.

        A backbone that cannot mask padding runs one clip at a time and its
        outputs are zero-padded into one batch.

        Arguments
        ---------
        inputs : torch.Tensor
            Normalised waveforms [batch, time], zero-padded.
        counts : torch.Tensor
            Valid samples per row [batch] (long).

        Returns
        -------
        hidden : torch.Tensor
            Last hidden states [batch, frames, hidden].
        frame_mask : torch.Tensor
            Boolean [batch, frames], True on valid frames.
        """
        if not self.masks_padding and inputs.shape[0] > 1:
            hidden = [
                self._run_backbone(inputs[row : row + 1, :count], None)
                for row, count in enumerate(counts.tolist())
            ]
            frames = [h.shape[1] for h in hidden]
            padded = hidden[0].new_zeros(
                len(hidden), max(frames), hidden[0].shape[2]
            )
            for row, states in enumerate(hidden):
                padded[row, : states.shape[1]] = states[0]
            frames = torch.tensor(frames, device=inputs.device)
            return padded, length_mask(frames, padded.shape[1])
        if not self.masks_padding:
            inputs = inputs[:, : int(counts[0])]
        full = bool((counts == inputs.shape[1]).all())
        # transformers wants the sample-level mask and derives the frame
        # mask from it with the same arithmetic as frame_counts().
        attention_mask = (
            None
            if full
            else length_mask(counts, inputs.shape[1]).to(torch.long)
        )
        hidden = self._run_backbone(inputs, attention_mask)
        frames = self.frame_counts(counts).clamp(max=hidden.shape[1])
        return hidden, length_mask(frames, hidden.shape[1])

    def _run_backbone(self, inputs, attention_mask):
        """The backbone's last hidden states, without WavLM's mask warning."""
        with warnings.catch_warnings():
            # WavLM mixes a boolean padding mask with a float position bias
            # inside torch's attention, which warns on every call.
            warnings.filterwarnings(
                "ignore", message="Support for mismatched key_padding_mask"
            )
            output = self.backbone(inputs, attention_mask=attention_mask)
        return output.last_hidden_state

    def inference_config(self):
        """Everything besides the weights that decides the outputs (JSON)."""
        config = self.config.to_dict()
        return {
            "teacher": type(self).__name__,
            "backbone": {
                key: config[key] for key in _BACKBONE_FIELDS if key in config
            },
            "max_window_seconds": self.max_window_seconds,
            "sample_rate": SAMPLE_RATE,
        }


class DawnRegressionHead(nn.Module):
    """Dawn's head: dropout, dense, tanh, dropout, out_proj.

    Dropout sits where the public model card's ``RegressionHead`` puts it;
    it only matters while fine-tuning an unfrozen teacher.

    Arguments
    ---------
    hidden_size : int
        Size of the pooled backbone states (and of the dense layer).
    num_outputs : int
        3: arousal, dominance, valence.
    dropout : float
        Dropout probability (the config's ``final_dropout``).

    Example
    -------
    >>> head = DawnRegressionHead(32)
    >>> head(torch.randn(2, 32)).shape
    torch.Size([2, 3])
    """

    def __init__(self, hidden_size, num_outputs=3, dropout=0.1):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden_size, num_outputs)

    def forward(self, pooled):
        """Maps pooled states to the outputs.

        Arguments
        ---------
        pooled : torch.Tensor
            Mean of the valid hidden states [batch, hidden_size].

        Returns
        -------
        torch.Tensor
            [batch, num_outputs].
        """
        hidden = torch.tanh(self.dense(self.dropout(pooled)))
        return self.out_proj(self.dropout(hidden))


class DawnTeacher(TransformerTeacher):
    """audEERING's wav2vec2 A/D/V regressor ("Dawn", Wagner et al. 2023).

    Per-utterance zero-mean unit-variance input (Wav2Vec2FeatureExtractor's
    ``do_normalize``: ``(x - mean) / sqrt(var + 1e-7)`` over valid samples),
    wav2vec2 backbone, mean of the last hidden states over valid frames,
    dense -> tanh -> out_proj. State-dict keys: ``wav2vec2.*``,
    ``classifier.dense.*``, ``classifier.out_proj.*``.

    Arguments
    ---------
    config : transformers.Wav2Vec2Config or dict
        The backbone config (the checkpoint's ``config.json``).
    normalize : bool
        Per-utterance input normalisation (the preprocessor's
        ``do_normalize``).
    num_outputs : int
        Outputs of the head (3: arousal, dominance, valence).
    max_window_seconds : float or None
        See :class:`WindowedTeacher`.
    frozen : bool
        See :class:`FrozenTeacher`.

    Example
    -------
    >>> from speechbrain_wav2small.teachers import tiny_teacher_config
    >>> teacher = DawnTeacher(tiny_teacher_config("dawn"))
    >>> teacher(torch.randn(2, 8000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        config,
        normalize=True,
        num_outputs=3,
        max_window_seconds=12.0,
        frozen=True,
    ):
        super().__init__(max_window_seconds=max_window_seconds, frozen=frozen)
        if isinstance(config, dict):
            config = Wav2Vec2Config(**config)
        self._init_backbone_checks(config)
        self.normalize = normalize
        self.wav2vec2 = Wav2Vec2Model(config)
        self.classifier = DawnRegressionHead(
            config.hidden_size,
            num_outputs=num_outputs,
            dropout=getattr(config, "final_dropout", 0.1),
        )
        self._check_window()
        if frozen:
            self.freeze()

    @property
    def backbone(self):
        """The wav2vec2 backbone."""
        return self.wav2vec2

    def forward_clips(self, wavs, counts):
        """Labels clips no longer than the window (see :meth:`forward`).

        Arguments
        ---------
        wavs : torch.Tensor
            Raw 16 kHz waveforms [batch, time], zero-padded.
        counts : torch.Tensor
            Valid samples of each row [batch] (long).

        Returns
        -------
        torch.Tensor
            [batch, 3]: arousal, dominance, valence.
        """
        inputs = wavs
        if self.normalize:
            relative = counts.to(torch.float64) / wavs.shape[1]
            inputs = normalize_waveform(wavs, relative)
        hidden, frame_mask = self.encode(inputs, counts)
        with autocast_off(hidden.device):
            # Pooling and head in float32 under mixed precision: a bf16
            # head rounds the labels to steps of 2**-8 (0.004 near 0.5),
            # and the pooling sums hundreds of frames. Both cost nothing
            # next to the backbone; on the shipped speech (2-layer
            # stand-ins) they cut the bf16-vs-fp32 label error fourfold.
            hidden = at_least_float32(hidden)
            weights = frame_mask.unsqueeze(2).to(hidden.dtype)
            valid = torch.where(frame_mask.unsqueeze(2), hidden, 0.0)
            pooled = valid.sum(dim=1) / weights.sum(dim=1)
            return self.classifier(pooled)

    def inference_config(self):
        """Everything besides the weights that decides the outputs (JSON)."""
        return dict(super().inference_config(), normalize=self.normalize)


class AttentiveStatisticsPooling(nn.Module):
    """Attention-weighted mean and standard deviation over valid frames.

    ``h = tanh(sap_linear(x))``, ``w = softmax_t(h @ attention)``,
    ``mu = sum_t w x``, ``sigma = sqrt(clamp(sum_t w x^2 - mu^2, 1e-5))``;
    output ``[mu, sigma]``. Padded frames get exactly zero weight.

    Arguments
    ---------
    input_size : int
        Feature size; the output has twice as many.

    Example
    -------
    >>> pool = AttentiveStatisticsPooling(8)
    >>> x = torch.randn(2, 5, 8)
    >>> mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    >>> pooled = pool(x, mask)
    >>> pooled.shape
    torch.Size([2, 16])
    >>> torch.allclose(pooled[1], pool(x[1:, :3], mask[1:, :3])[0])
    True
    """

    def __init__(self, input_size):
        super().__init__()
        self.sap_linear = nn.Linear(input_size, input_size)
        # Stored as [input_size, 1] in the Odyssey code that loads this key.
        self.attention = nn.Parameter(torch.randn(input_size, 1))

    def forward(self, x, frame_mask):
        """Pools over valid frames.

        Arguments
        ---------
        x : torch.Tensor
            Frame features [batch, frames, input_size].
        frame_mask : torch.Tensor
            Boolean [batch, frames], True on valid frames.

        Returns
        -------
        torch.Tensor
            Weighted mean and standard deviation [batch, 2 * input_size].
        """
        valid = frame_mask.unsqueeze(2)
        x = torch.where(valid, x, 0.0)
        scores = torch.tanh(self.sap_linear(x)) @ self.attention
        scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=1) * valid
        mean = (x * weights).sum(dim=1)
        second_moment = (x.square() * weights).sum(dim=1)
        std = torch.sqrt((second_moment - mean.square()).clamp(min=1e-5))
        return torch.cat([mean, std], dim=1)


class EmotionRegression(nn.Module):
    """Odyssey's head: [Linear -> LayerNorm -> ReLU -> Dropout] x n, Linear.

    Keys ``fc.<i>.0`` (Linear), ``fc.<i>.1`` (LayerNorm) and ``out.0``.

    Arguments
    ---------
    input_size : int
        Pooled feature size (twice the backbone's hidden size).
    hidden_size : int
        Width of the hidden layers.
    num_layers : int
        Hidden layers (``classifier_hidden_layers``, 1 in the public model).
    num_outputs : int
        3: arousal, dominance, valence.
    dropout : float
        ``classifier_dropout_prob``.

    Example
    -------
    >>> head = EmotionRegression(16, 8)
    >>> head(torch.randn(2, 16)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self, input_size, hidden_size, num_layers=1, num_outputs=3, dropout=0.5
    ):
        super().__init__()
        sizes = [input_size] + [hidden_size] * num_layers
        self.fc = nn.ModuleList(
            nn.Sequential(
                nn.Linear(n_in, n_out),
                nn.LayerNorm(n_out),
                nn.ReLU(),
                nn.Dropout(dropout),
            )
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.out = nn.Sequential(nn.Linear(hidden_size, num_outputs))

    def forward(self, pooled):
        """Maps pooled statistics to the outputs.

        Arguments
        ---------
        pooled : torch.Tensor
            [batch, input_size].

        Returns
        -------
        torch.Tensor
            [batch, num_outputs].
        """
        for layer in self.fc:
            pooled = layer(pooled)
        return self.out(pooled)


class OdysseyTeacher(TransformerTeacher):
    """The Odyssey 2024 SER challenge baseline on WavLM (3loi).

    Global input normalisation ``(wav - mean) / (std + 1e-6)`` with the
    corpus statistics stored in its config, WavLM backbone, attentive
    statistics pooling, :class:`EmotionRegression` head. State-dict keys:
    ``ssl_model.*``, ``pool_model.attention``, ``pool_model.sap_linear.*``,
    ``ser_model.fc.0.0.*``, ``ser_model.fc.0.1.*``, ``ser_model.out.0.*``.

    Assumptions not checked against the checkpoint's own code (the hub's
    custom ``pipeline_utils.py``):

    * ``pool_model.attention`` is taken to be ``[hidden, 1]`` (the shape in
      the published attentive statistics pooling code this layout comes
      from); the loader also accepts ``[hidden]``;
    * that code pools over ``x[:feat_len]`` per utterance, with ``feat_len``
      derived from the sample mask; whether it counts frames exactly like the
      convolutions (as here) or rounds up by one is not known. For one clip
      without padding, the model card's usage, both pool over all frames, so
      single-clip outputs are unaffected;
    * no output activation is applied (none appears in the layout);
    * with ``classifier_hidden_layers > 1`` the extra layers are taken to be
      ``hidden -> hidden`` blocks of the same form.

    Arguments
    ---------
    config : transformers.WavLMConfig or dict
        The backbone config (WavLM-large for the public model).
    mean, std : float
        Global input statistics (the checkpoint config's ``mean``/``std``).
    classifier_hidden_layers : int
        Hidden layers of the head.
    classifier_dropout : float
        Dropout of the head.
    num_outputs : int
        3: arousal, dominance, valence.
    max_window_seconds : float or None
        See :class:`WindowedTeacher`; the public model was trained on crops
        of at most 12 s.
    frozen : bool
        See :class:`FrozenTeacher`.

    Example
    -------
    >>> from speechbrain_wav2small.teachers import tiny_teacher_config
    >>> config = tiny_teacher_config("wavlm_odyssey")
    >>> teacher = OdysseyTeacher(config, mean=0.0, std=0.1)
    >>> teacher(torch.randn(2, 8000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        config,
        mean,
        std,
        classifier_hidden_layers=1,
        classifier_dropout=0.5,
        num_outputs=3,
        max_window_seconds=12.0,
        frozen=True,
    ):
        super().__init__(max_window_seconds=max_window_seconds, frozen=frozen)
        if isinstance(config, dict):
            config = WavLMConfig(**config)
        self._init_backbone_checks(config)
        self.mean = float(mean)
        self.std = float(std)
        self.classifier_hidden_layers = classifier_hidden_layers
        self.classifier_dropout = classifier_dropout
        self.ssl_model = WavLMModel(config)
        self.pool_model = AttentiveStatisticsPooling(config.hidden_size)
        self.ser_model = EmotionRegression(
            2 * config.hidden_size,
            config.hidden_size,
            num_layers=classifier_hidden_layers,
            num_outputs=num_outputs,
            dropout=classifier_dropout,
        )
        self._check_window()
        if frozen:
            self.freeze()

    @property
    def backbone(self):
        """The WavLM backbone."""
        return self.ssl_model

    def forward_clips(self, wavs, counts):
        """Labels clips no longer than the window (see :meth:`forward`).

        Arguments
        ---------
        wavs : torch.Tensor
            Raw 16 kHz waveforms [batch, time], zero-padded.
        counts : torch.Tensor
            Valid samples of each row [batch] (long).

        Returns
        -------
        torch.Tensor
            [batch, 3]: arousal, dominance, valence.
        """
        sample_mask = length_mask(counts, wavs.shape[1])
        # Padding is set back to zero: after the shift it would be -mean/std.
        inputs = torch.where(
            sample_mask, (wavs - self.mean) / (self.std + 1e-6), 0.0
        )
        hidden, frame_mask = self.encode(inputs, counts)
        with autocast_off(hidden.device):
            # Pooling and head in float32 under mixed precision: the
            # standard deviation sqrt(E[x^2] - mean^2) cancels badly in
            # bf16, and a bf16 head rounds the labels to steps of 2**-8.
            # Both cost nothing next to the backbone.
            hidden = at_least_float32(hidden)
            return self.ser_model(self.pool_model(hidden, frame_mask))

    def inference_config(self):
        """Everything besides the weights that decides the outputs (JSON)."""
        return dict(
            super().inference_config(),
            mean=self.mean,
            std=self.std,
            classifier_hidden_layers=self.classifier_hidden_layers,
        )


class EnsembleTeacher(FrozenTeacher):
    """Weighted mean of teachers' outputs: the Wav2Small paper's teacher.

    Arguments
    ---------
    members : list of torch.nn.Module
        Teachers with the common contract (``[batch, 3]`` A/D/V).
    weights : list of float, optional
        One non-negative weight per member (normalised to sum to 1);
        equal weights by default.
    frozen : bool
        See :class:`FrozenTeacher`.

    Example
    -------
    >>> from speechbrain_wav2small.teachers import build_teacher
    >>> dawn, odyssey = build_teacher("dawn"), build_teacher("wavlm_odyssey")
    >>> ensemble = EnsembleTeacher([dawn, odyssey], weights=[3, 1])
    >>> wavs = torch.randn(1, 8000)
    >>> expected = 0.75 * dawn(wavs) + 0.25 * odyssey(wavs)
    >>> torch.allclose(ensemble(wavs), expected)
    True
    """

    def __init__(self, members, weights=None, frozen=True):
        super().__init__(frozen=frozen)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if weights is None:
            weights = [1.0] * len(members)
        weights = [float(w) for w in weights]
        if len(weights) != len(members):
            raise ValueError(
                f"{len(members)} members but {len(weights)} weights"
            )
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights must be >= 0, not all 0: {weights}")
        self.members = nn.ModuleList(members)
        self.weights = [w / sum(weights) for w in weights]
        if frozen:
            self.freeze()

    @property
    def min_samples(self):
        """Shortest clip every member can label."""
        return max(member.min_samples for member in self.members)

    @property
    def max_window_seconds(self):
        """Longest stretch any member sees at once (``None``: unbounded)."""
        windows = [
            getattr(member, "max_window_seconds", None)
            for member in self.members
        ]
        return None if None in windows else max(windows)

    def forward(self, wavs, lengths=None):
        """Weighted mean of the members' outputs.

        Arguments
        ---------
        wavs : torch.Tensor
            Raw 16 kHz waveforms [batch, time], zero-padded.
        lengths : torch.Tensor, optional
            Relative lengths [batch] in (0, 1].

        Returns
        -------
        torch.Tensor
            [batch, 3]: arousal, dominance, valence.
        """
        total = 0.0
        for weight, member in zip(self.weights, self.members, strict=True):
            total = total + weight * member(wavs, lengths)
        return total

    def inference_config(self):
        """Everything besides the members that decides the outputs (JSON)."""
        return {"teacher": type(self).__name__, "weights": self.weights}
