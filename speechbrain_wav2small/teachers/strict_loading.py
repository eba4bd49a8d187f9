"""Strict loading of a checkpoint's weights into a teacher.

Every weight of the checkpoint must land in the model and every weight of
the model must come from the checkpoint; in particular a checkpoint without
its regression head, or with a head of the wrong shape, is refused with an
error that names the keys. (Loading the Dawn checkpoint through a generic
transformers audio-classification class silently leaves the head random:
every output is then about 0.33.)

Authors
 * speechbrain-wav2small contributors 2026
"""

import logging

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.teachers.checkpoint import rename_weight_norm
from speechbrain_wav2small.utils.state_dict import compare_state_dicts

logger = logging.getLogger(__name__)

_HEAD_KEYS = {
    "dawn": (
        "classifier.dense.weight",
        "classifier.dense.bias",
        "classifier.out_proj.weight",
        "classifier.out_proj.bias",
    ),
    "wavlm_odyssey": (
        "pool_model.attention",
        "pool_model.sap_linear.weight",
        "pool_model.sap_linear.bias",
        "ser_model.fc.0.0.weight",
        "ser_model.fc.0.0.bias",
        "ser_model.fc.0.1.weight",
        "ser_model.fc.0.1.bias",
        "ser_model.out.0.weight",
        "ser_model.out.0.bias",
    ),
}

_OUTPUT_KEYS = {
    "dawn": ("classifier.out_proj.weight", "classifier.out_proj.bias"),
    "wavlm_odyssey": ("ser_model.out.0.weight", "ser_model.out.0.bias"),
}


class HeadWeightsError(ValueError):
    """A checkpoint's regression head is missing or mis-shaped.

    Example
    -------
    >>> isinstance(HeadWeightsError("no head"), ValueError)
    True
    """


def output_order(config, where):
    """Row permutation putting the head's outputs in A/D/V order, or None.

    Arguments
    ---------
    config : dict
        The checkpoint's ``config.json`` (its ``id2label`` is read).
    where : str or os.PathLike
        The config's path, for messages.

    Returns
    -------
    list of int or None
        ``None`` when the outputs already are arousal, dominance, valence.

    Example
    -------
    >>> labels = {"0": "valence", "1": "arousal", "2": "dominance"}
    >>> output_order({"id2label": labels}, "config.json")
    [1, 2, 0]
    """
    id2label = config.get("id2label")
    if not id2label:
        return None
    names = [
        str(id2label.get(str(i), id2label.get(i, ""))).lower()
        for i in range(len(id2label))
    ]
    if names == list(DIMENSIONS):
        return None
    if sorted(names) == sorted(DIMENSIONS):
        return [names.index(name) for name in DIMENSIONS]
    if names == [f"label_{i}" for i in range(len(DIMENSIONS))]:
        logger.warning(
            "%s: id2label has generic names; assuming the outputs are "
            "arousal, dominance, valence",
            where,
        )
        return None
    raise ValueError(
        f"{where}: id2label {names} does not name arousal, dominance and "
        "valence"
    )


def _fit_harmless_differences(state, expected):
    """``state`` with the differences that never change an output undone."""
    state = rename_weight_norm(state, expected)
    if "pool_model.attention" in state:
        # [hidden] or [1, hidden] would be the same vector; ours is [h, 1].
        attention = state["pool_model.attention"]
        target = expected["pool_model.attention"].shape
        if attention.numel() == target.numel() and attention.dim() <= 2:
            state["pool_model.attention"] = attention.reshape(target)
    for key in [k for k in state if k.endswith("masked_spec_embed")]:
        # Only used by SpecAugment in training: present or not depending on
        # the config's mask_time_prob; it never changes a teacher's output.
        if key not in expected:
            del state[key]
    for key in [k for k in expected if k.endswith("masked_spec_embed")]:
        state.setdefault(key, expected[key])
    return state


def _check_head(state, expected, kind, checkpoint):
    """Refuses a checkpoint whose regression head is absent or mis-shaped."""
    head = _HEAD_KEYS[kind]
    missing_head = [key for key in head if key not in state]
    if missing_head:
        raise HeadWeightsError(
            f"{checkpoint} has no trained regression head: missing "
            f"{', '.join(missing_head)}. Refusing to label with a randomly "
            "initialised head (a backbone-only checkpoint, or one saved "
            "through a generic audio-classification class, would give "
            "about the same output for every clip)."
        )
    bad_head = [
        f"{key} is {list(state[key].shape)}, expected "
        f"{list(expected[key].shape)}"
        for key in head
        if state[key].shape != expected[key].shape
    ]
    if bad_head:
        raise HeadWeightsError(
            f"{checkpoint} has a mis-shaped regression head: "
            + "; ".join(bad_head)
        )


def load_weights_strictly(teacher, state, kind, checkpoint, order=None):
    """Loads ``state`` into ``teacher``, refusing anything that does not fit.

    Arguments
    ---------
    teacher : DawnTeacher or OdysseyTeacher
        The model, built from the checkpoint's config.
    state : dict
        The checkpoint's state dict (either weight-norm naming).
    kind : str
        ``"dawn"`` or ``"wavlm_odyssey"``.
    checkpoint : str or os.PathLike
        The weight file, for messages.
    order : list of int, optional
        Row permutation of the output layer (see :func:`output_order`).

    Raises
    ------
    HeadWeightsError
        The regression head is missing or mis-shaped.
    ValueError
        Other weights are missing, unexpected or mis-shaped.

    Example
    -------
    >>> from speechbrain_wav2small.teachers import build_teacher
    >>> teacher = build_teacher("dawn")
    >>> state = build_teacher("dawn", seed=0).state_dict()
    >>> del state["classifier.out_proj.bias"]
    >>> try:
    ...     load_weights_strictly(teacher, state, "dawn", "ckpt")
    ... except HeadWeightsError as error:
    ...     print(str(error).split(". ")[0])
    ckpt has no trained regression head: missing classifier.out_proj.bias
    """
    expected = teacher.state_dict()
    state = _fit_harmless_differences(state, expected)
    _check_head(state, expected, kind, checkpoint)
    mismatch = compare_state_dicts(expected, state)
    if mismatch:
        raise ValueError(
            f"{checkpoint} does not match its config.json: "
            + mismatch.describe(limit=6, noun="weights")
        )
    if order is not None:
        for key in _OUTPUT_KEYS[kind]:
            state[key] = state[key][order]
    teacher.load_state_dict(state, strict=True)
