"""Building blocks of teacher fine-tuning: the model, its optimiser groups,
its export.

This is how the paper's teachers were made: a pretrained wav2vec2 / WavLM
with a small head, fine-tuned on MSP-Podcast's arousal, dominance and
valence with the CCC loss (the ``Brain`` is in
``recipes/MSP-Podcast/teacher/train.py``). The best checkpoint is saved in
the hub layout of the real model, which the pseudo-labeller loads.

Authors
 * speechbrain-wav2small contributors 2026
"""

import logging

import torch

from speechbrain_wav2small.teachers.checkpoint import HUB_FILES
from speechbrain_wav2small.teachers.configs import (
    backbone_config,
    build_teacher,
)
from speechbrain_wav2small.teachers.fingerprint import teacher_fingerprint
from speechbrain_wav2small.teachers.hub_layout import save_teacher
from speechbrain_wav2small.utils.distributed import unwrap
from speechbrain_wav2small.utils.hub import resolve_source

logger = logging.getLogger(__name__)


def build_finetuning_teacher(
    kind="dawn",
    ssl_source=None,
    num_layers=None,
    backbone_overrides=None,
    freeze_feature_encoder=True,
    max_window_seconds=12.0,
    seed=None,
):
    """A trainable teacher, from a pretrained SSL backbone or from scratch.

    Arguments
    ---------
    kind : str
        ``"dawn"`` (wav2vec2 layout) or ``"wavlm_odyssey"`` (WavLM layout).
    ssl_source : str, optional
        Hub id (``owner/name``, or ``owner/name@revision``) or local folder
        of a pretrained backbone in the transformers layout (e.g.
        ``facebook/wav2vec2-large-robust``), fetched into the
        ``huggingface_hub`` cache. ``None`` starts from random weights (the
        demo's tiny teacher).
    num_layers : int, optional
        Keep only the first ``num_layers`` transformer layers (Dawn is
        wav2vec2-large-robust pruned to 12).
    backbone_overrides : dict, optional
        Backbone config fields to change (sizes of a tiny teacher).
    freeze_feature_encoder : bool
        Keep the convolutional feature encoder fixed, as usual when
        fine-tuning wav2vec2-style models.
    max_window_seconds : float
        Longest window the teacher processes at once.
    seed : int, optional
        Seed of the head's (and a scratch backbone's) initial weights.

    Example
    -------
    >>> teacher = build_finetuning_teacher(
    ...     backbone_overrides={"hidden_size": 32, "num_hidden_layers": 1,
    ...     "intermediate_size": 32, "conv_dim": [8] * 7,
    ...     "num_attention_heads": 2, "num_conv_pos_embeddings": 16,
    ...     "num_conv_pos_embedding_groups": 2}, seed=0)
    >>> any(p.requires_grad for p in teacher.parameters())
    True
    """
    overrides = dict(backbone_overrides or {})
    if num_layers is not None:
        overrides["num_hidden_layers"] = num_layers
    pretrained = None
    if ssl_source is not None:
        pretrained = _pretrained_backbone(kind, ssl_source)
        config = pretrained.config
        for key, value in overrides.items():
            setattr(config, key, value)
    else:
        config = backbone_config(kind, **overrides)
    teacher = build_teacher(
        kind,
        config=config,
        seed=seed,
        frozen=False,
        max_window_seconds=max_window_seconds,
    )
    if pretrained is not None:
        # Layers beyond num_layers are pruned: their weights are unexpected.
        missing, _ = teacher.backbone.load_state_dict(
            pretrained.state_dict(), strict=False
        )
        if missing:
            raise ValueError(
                f"pretrained backbone {ssl_source} lacks weights for "
                f"{len(missing)} keys, e.g. {missing[:5]}"
            )
    if freeze_feature_encoder:
        teacher.backbone.feature_extractor.requires_grad_(False)
    return teacher


def _pretrained_backbone(kind, ssl_source):
    """The transformers backbone of ``ssl_source`` (hub id or folder)."""
    from transformers import Wav2Vec2Model, WavLMModel

    folder = resolve_source(
        ssl_source, "teacher source", allow_patterns=HUB_FILES
    )
    model_class = Wav2Vec2Model if kind == "dawn" else WavLMModel
    return model_class.from_pretrained(folder)


def backbone_param_groups(teacher, lr_backbone):
    """Optimiser parameter groups: the backbone at its own, slower rate.

    Fine-tuning a pretrained SSL backbone at the head's learning rate
    destroys what it learned; the usual remedy is a smaller rate for it.
    Frozen parameters (e.g. the feature encoder) are left out.

    Arguments
    ---------
    teacher : torch.nn.Module
        The teacher, possibly wrapped in (Distributed)DataParallel; it has
        a ``backbone`` attribute.
    lr_backbone : float
        Learning rate of the backbone's parameters.

    Returns
    -------
    list of dict
        ``[{"params": backbone, "lr": lr_backbone}, {"params": head}]``:
        the head group takes the optimiser's own learning rate.

    Example
    -------
    >>> teacher = build_teacher("dawn", seed=0, frozen=False)
    >>> groups = backbone_param_groups(teacher, lr_backbone=1e-5)
    >>> optimizer = torch.optim.Adam(groups, lr=1e-3)
    >>> [group["lr"] for group in optimizer.param_groups]
    [1e-05, 0.001]
    """
    teacher = unwrap(teacher)
    backbone = {id(p) for p in teacher.backbone.parameters()}
    backbone_params, head_params = [], []
    for parameter in teacher.parameters():
        if parameter.requires_grad:
            if id(parameter) in backbone:
                backbone_params.append(parameter)
            else:
                head_params.append(parameter)
    return [
        {"params": backbone_params, "lr": lr_backbone},
        {"params": head_params},
    ]


def export_teacher(teacher, folder):
    """Saves the fine-tuned teacher in its hub layout, never overwriting.

    A folder that already holds this very teacher (same fingerprint) is
    left as it is, so a rerun of a finished recipe is harmless; a folder
    holding a different teacher is refused.

    Arguments
    ---------
    teacher : TransformerTeacher
        The fine-tuned teacher.
    folder : str or os.PathLike
        Where the hub layout is written.

    Returns
    -------
    str
        The teacher's fingerprint.

    Raises
    ------
    FileExistsError
        ``folder`` already holds a different teacher.

    Example
    -------
    >>> import os, tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "teacher")
    >>> teacher = build_teacher("dawn", seed=0)
    >>> fingerprint = export_teacher(teacher, folder)
    >>> export_teacher(teacher, folder) == fingerprint  # a rerun
    True
    """
    from speechbrain_wav2small.teachers.loading import load_pretrained_teacher

    fingerprint = teacher_fingerprint(teacher)
    try:
        existing = load_pretrained_teacher(str(folder))
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if existing.fingerprint == fingerprint:
            logger.info("Teacher already exported to %s", folder)
            return fingerprint
        raise FileExistsError(
            f"{folder} already holds another teacher "
            f"(fingerprint {existing.fingerprint[:12]}, this one "
            f"{fingerprint[:12]}); choose another teacher_folder"
        )
    with torch.no_grad():
        save_teacher(teacher, folder)
    logger.info("Saved the fine-tuned teacher to %s", folder)
    return fingerprint
