"""The teacher kinds, their architectures and random-weight stand-ins.

Two single-model teachers exist, each with a public checkpoint on the hub:
``"dawn"`` (audEERING's wav2vec2-large-robust regressor) and
``"wavlm_odyssey"`` (the Odyssey 2024 WavLM-large baseline); ``"ensemble"``
is their weighted mean. A loaded checkpoint takes its architecture from its
own ``config.json``; the configs kept here build random-weight teachers of
the real architectures (tests, benchmarks, demos) and let the Odyssey
checkpoint load offline.

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch
from transformers import Wav2Vec2Config, WavLMConfig

from speechbrain_wav2small.lobes.teachers import (
    DawnTeacher,
    EnsembleTeacher,
    OdysseyTeacher,
)

#: Hub ids of the two public teachers.
DAWN_SOURCE = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
ODYSSEY_SOURCE = "3loi/SER-Odyssey-Baseline-WavLM-Multi-Attributes"

#: Teacher name -> YAML file under ``hparams/teachers``.
TEACHERS = {
    "dawn": "dawn.yaml",
    "wavlm_odyssey": "wavlm_odyssey.yaml",
    "ensemble": "ensemble.yaml",
}

#: The Odyssey backbone named by its config's ``ssl_type``.
WAVLM_LARGE = "microsoft/wavlm-large"

#: Approximate global input statistics of the Odyssey model (its config has
#: the exact values; these only serve random-weight stand-ins).
ODYSSEY_MEAN_APPROX = -8.3e-5
ODYSSEY_STD_APPROX = 0.0849

# The transformer and feature-extractor sizes wav2vec2-large-robust and
# WavLM-large share.
_LARGE = {
    "hidden_size": 1024,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "feat_extract_norm": "layer",
    "feat_extract_activation": "gelu",
    "conv_dim": [512] * 7,
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": True,
}

# wav2vec2-large-robust pruned to 12 layers, as in Dawn's config.json. The
# checkpoint's own config.json is what loading uses; this copy only builds
# random-weight stand-ins of the real architecture (benchmarks, demos).
_DAWN_BACKBONE = {
    **_LARGE,
    "num_hidden_layers": 12,
    "conv_bias": True,
    "final_dropout": 0.1,
    "problem_type": "regression",
}

#: The config fields of microsoft/wavlm-large (what the Odyssey config's
#: ``ssl_type`` names). Its config.json is not part of the Odyssey repo, so
#: the architecture is kept here to load that repo offline. A wrong value
#: here cannot go unnoticed: strict loading would then refuse the
#: checkpoint, naming the keys.
WAVLM_LARGE_BACKBONE = {
    **_LARGE,
    "num_hidden_layers": 24,
    "conv_bias": False,
    "num_buckets": 320,
    "max_bucket_distance": 800,
    "mask_time_prob": 0.075,
}

# A few layers and a small width, with the real architecture's flags, conv
# kernels and strides (so frame arithmetic and padding behave as in the
# real models).
_TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [16] * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}


def _unknown_kind(kind):
    """The error for a teacher kind that has no single-model architecture."""
    return ValueError(f"unknown teacher kind {kind!r}: dawn or wavlm_odyssey")


def backbone_config(kind, **overrides):
    """The real backbone config of a teacher kind, with optional overrides.

    Arguments
    ---------
    kind : str
        ``"dawn"`` (wav2vec2-large-robust, 12 layers) or ``"wavlm_odyssey"``
        (WavLM-large).
    **overrides
        Config fields to change (e.g. ``num_hidden_layers=4``).

    Returns
    -------
    transformers.PretrainedConfig
        A ``Wav2Vec2Config`` or a ``WavLMConfig``.

    Example
    -------
    >>> backbone_config("dawn").num_hidden_layers
    12
    >>> backbone_config("wavlm_odyssey", num_hidden_layers=2).conv_bias
    False
    """
    if kind == "dawn":
        return Wav2Vec2Config(**dict(_DAWN_BACKBONE, **overrides))
    if kind == "wavlm_odyssey":
        return WavLMConfig(**dict(WAVLM_LARGE_BACKBONE, **overrides))
    raise _unknown_kind(kind)


def tiny_teacher_config(kind, **overrides):
    """A 2-layer, 32-wide backbone config of the real architecture.

    For tests and demos: it keeps the real model's conv kernels, strides
    and normalisation flags, so only the sizes differ.

    Arguments
    ---------
    kind : str
        ``"dawn"`` or ``"wavlm_odyssey"``.
    **overrides
        Config fields to change.

    Returns
    -------
    transformers.PretrainedConfig
        The tiny config, of the class :func:`backbone_config` gives.

    Example
    -------
    >>> config = tiny_teacher_config("dawn")
    >>> config.hidden_size, config.num_hidden_layers, config.feat_extract_norm
    (32, 2, 'layer')
    """
    return backbone_config(kind, **dict(_TINY, **overrides))


def build_teacher(kind, config=None, seed=None, **kwargs):
    """A teacher with random weights (tiny by default).

    Arguments
    ---------
    kind : str
        ``"dawn"`` or ``"wavlm_odyssey"``.
    config : transformers config, optional
        Backbone config; :func:`tiny_teacher_config` by default.
    seed : int, optional
        Seed for the initial weights (the global RNG is left untouched).
    **kwargs
        Passed to :class:`DawnTeacher` or :class:`OdysseyTeacher`
        (``max_window_seconds``, ``frozen``...).

    Returns
    -------
    DawnTeacher or OdysseyTeacher
        The teacher.

    Example
    -------
    >>> from speechbrain_wav2small.teachers import teacher_fingerprint
    >>> a, b = build_teacher("dawn", seed=1), build_teacher("dawn", seed=1)
    >>> teacher_fingerprint(a) == teacher_fingerprint(b)
    True
    """
    if config is None:
        config = tiny_teacher_config(kind)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        if kind == "dawn":
            return DawnTeacher(config, **kwargs)
        if kind == "wavlm_odyssey":
            kwargs.setdefault("mean", ODYSSEY_MEAN_APPROX)
            kwargs.setdefault("std", ODYSSEY_STD_APPROX)
            return OdysseyTeacher(config, **kwargs)
    raise _unknown_kind(kind)


def teacher_kind(teacher):
    """``"dawn"``, ``"wavlm_odyssey"`` or ``"ensemble"`` for a teacher.

    Arguments
    ---------
    teacher : torch.nn.Module
        A teacher of this package.

    Returns
    -------
    str
        Its kind.

    Example
    -------
    >>> teacher_kind(build_teacher("wavlm_odyssey"))
    'wavlm_odyssey'
    """
    if isinstance(teacher, DawnTeacher):
        return "dawn"
    if isinstance(teacher, OdysseyTeacher):
        return "wavlm_odyssey"
    if isinstance(teacher, EnsembleTeacher):
        return "ensemble"
    raise TypeError(f"not a teacher of this package: {type(teacher)}")
