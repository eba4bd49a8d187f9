"""Loading a teacher checkpoint: a hub id or a folder in the hub layout.

Both go through the same code: a hub id (``owner/name``, or
``owner/name@revision`` for a branch, tag or commit; ``hf://owner/name``
when a local folder ``owner/`` exists) is first turned into a local
snapshot folder in the ``huggingface_hub`` cache, also offline with
``HF_HUB_OFFLINE=1`` (:func:`speechbrain_wav2small.utils.hub.resolve_source`,
the one rule for sources).
The model is built from the checkpoint's own ``config.json``, checked, and
filled strictly (:mod:`speechbrain_wav2small.teachers.strict_loading`). No
custom code from the hub is run.

Authors
 * speechbrain-wav2small contributors 2026
"""

from pathlib import Path

from transformers import Wav2Vec2Config, WavLMConfig

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.lobes.teachers import DawnTeacher, OdysseyTeacher
from speechbrain_wav2small.teachers.checkpoint import (
    HUB_FILES,
    read_checkpoint,
    read_json,
)
from speechbrain_wav2small.teachers.configs import (
    DAWN_SOURCE,
    ODYSSEY_SOURCE,
    WAVLM_LARGE,
    backbone_config,
)
from speechbrain_wav2small.teachers.fingerprint import teacher_fingerprint
from speechbrain_wav2small.teachers.strict_loading import (
    load_weights_strictly,
    output_order,
)
from speechbrain_wav2small.utils.hub import resolve_source


def _teacher_folder(source, revision=None):
    """The local folder of a teacher checkpoint (hub snapshot or folder)."""
    return resolve_source(
        source, "teacher source", allow_patterns=HUB_FILES, revision=revision
    )


def _finish(teacher, source, name, device, frozen):
    """Freezes, moves and names a loaded teacher."""
    if frozen:
        teacher.freeze()
    teacher.to(device)
    teacher.name = name
    teacher.source = str(source)
    teacher.fingerprint = teacher_fingerprint(teacher)
    return teacher


def load_dawn_teacher(
    source=DAWN_SOURCE,
    max_window_seconds=12.0,
    device="cpu",
    frozen=True,
    revision=None,
):
    """Loads a Dawn-layout checkpoint (wav2vec2 + dense/tanh/out_proj head).

    Arguments
    ---------
    source : str or os.PathLike
        Hub id (``owner/name[@revision]``) or local folder with
        ``config.json`` (``model_type`` ``wav2vec2``), weights and
        ``preprocessor_config.json``.
    max_window_seconds : float or None
        Longest window the backbone sees (see :class:`DawnTeacher`).
    device : str
        Where to put the teacher.
    frozen : bool
        Frozen and always in eval (default), or trainable for fine-tuning.
    revision : str, optional
        Branch, tag or commit hash of a hub id (default: its main branch).

    Returns
    -------
    DawnTeacher
        With ``name``, ``source`` and ``fingerprint`` attributes.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_wav2small.teachers import build_teacher, save_teacher
    >>> folder = save_teacher(build_teacher("dawn"), tempfile.mkdtemp())
    >>> load_dawn_teacher(folder).fingerprint.startswith("sha256:")
    True
    """
    folder = _teacher_folder(source, revision)
    config = read_json(folder, "config.json")
    where = Path(folder) / "config.json"
    if config.get("model_type") != "wav2vec2":
        raise ValueError(
            f"{where}: model_type is {config.get('model_type')!r}, not "
            "'wav2vec2': not a Dawn-layout checkpoint (an Odyssey checkpoint "
            "has model_type 'ser')"
        )
    preprocessor = read_json(folder, "preprocessor_config.json", False) or {}
    rate = preprocessor.get("sampling_rate", SAMPLE_RATE)
    if rate != SAMPLE_RATE:
        raise ValueError(
            f"{folder}: preprocessor sampling_rate is {rate}, not {SAMPLE_RATE}"
        )
    num_labels = len(config.get("id2label") or {}) or len(DIMENSIONS)
    if num_labels != len(DIMENSIONS):
        raise ValueError(
            f"{where} has {num_labels} labels, expected arousal, dominance, "
            "valence"
        )
    order = output_order(config, where)
    teacher = DawnTeacher(
        Wav2Vec2Config(**config),
        normalize=preprocessor.get("do_normalize", True),
        max_window_seconds=max_window_seconds,
        frozen=frozen,
    )
    state, checkpoint = read_checkpoint(folder)
    load_weights_strictly(teacher, state, "dawn", checkpoint, order)
    return _finish(teacher, source, "dawn", device, frozen)


def _odyssey_backbone(config, folder):
    """The WavLM config an Odyssey ``config.json`` describes."""
    where = Path(folder) / "config.json"
    if "ssl_config" in config:
        backbone = WavLMConfig(**config["ssl_config"])
    elif config.get("ssl_type", WAVLM_LARGE) == WAVLM_LARGE:
        backbone = backbone_config("wavlm_odyssey")
    else:
        ssl_folder = resolve_source(
            config["ssl_type"], "teacher source", allow_patterns=["config.json"]
        )
        ssl_config = read_json(ssl_folder, "config.json")
        if ssl_config.get("model_type") != "wavlm":
            raise ValueError(
                f"{where}: ssl_type {config['ssl_type']} is a "
                f"{ssl_config.get('model_type')!r} model; only WavLM "
                "backbones are supported"
            )
        backbone = WavLMConfig(**ssl_config)
    for field in ("hidden_size", "num_hidden_layers", "num_attention_heads"):
        if field in config and config[field] != getattr(backbone, field):
            raise ValueError(
                f"{where}: {field} is {config[field]} but the backbone "
                f"({config.get('ssl_type', WAVLM_LARGE)}) has "
                f"{getattr(backbone, field)}"
            )
    return backbone


def _check_odyssey_config(config, where):
    """Refuses an Odyssey ``config.json`` this package cannot honour."""
    if config.get("model_type") != "ser":
        raise ValueError(
            f"{where}: model_type is {config.get('model_type')!r}, not 'ser': "
            "not an Odyssey-layout checkpoint (Dawn has model_type "
            "'wav2vec2')"
        )
    missing = [key for key in ("mean", "std") if key not in config]
    if missing:
        raise ValueError(f"{where} lacks the input statistics {missing}")
    if config.get("num_classes", len(DIMENSIONS)) != len(DIMENSIONS):
        raise ValueError(
            f"{where} has num_classes {config['num_classes']}, expected 3"
        )
    rate = config.get("sampling_rate", SAMPLE_RATE)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{where}: sampling_rate is {rate}, not {SAMPLE_RATE}")


def load_odyssey_teacher(
    source=ODYSSEY_SOURCE,
    max_window_seconds=12.0,
    device="cpu",
    frozen=True,
    revision=None,
):
    """Loads an Odyssey-layout checkpoint (WavLM + attentive pooling + MLP).

    The backbone's architecture comes from ``ssl_config`` in
    ``config.json`` when present (written by
    :func:`~speechbrain_wav2small.teachers.hub_layout.save_teacher`), else
    from ``ssl_type`` (WavLM-large for the public model, known offline).
    No custom code from the hub is run.

    Arguments
    ---------
    source : str or os.PathLike
        Hub id (``owner/name[@revision]``) or local folder with
        ``config.json`` (``model_type`` ``ser``, ``mean``, ``std``) and
        weights.
    max_window_seconds : float or None
        Longest window the backbone sees (the public model was trained on
        crops of at most 12 s).
    device : str
        As for :func:`load_dawn_teacher`.
    frozen : bool
        As for :func:`load_dawn_teacher`.
    revision : str, optional
        As for :func:`load_dawn_teacher`.

    Returns
    -------
    OdysseyTeacher
        Frozen unless asked otherwise, with ``name``, ``source`` and
        ``fingerprint`` attributes.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_wav2small.teachers import build_teacher, save_teacher
    >>> original = build_teacher("wavlm_odyssey", seed=0)
    >>> folder = save_teacher(original, tempfile.mkdtemp())
    >>> loaded = load_odyssey_teacher(folder)
    >>> loaded.fingerprint == teacher_fingerprint(original)
    True
    """
    folder = _teacher_folder(source, revision)
    config = read_json(folder, "config.json")
    where = Path(folder) / "config.json"
    _check_odyssey_config(config, where)
    order = output_order(config, where)
    teacher = OdysseyTeacher(
        _odyssey_backbone(config, folder),
        mean=config["mean"],
        std=config["std"],
        classifier_hidden_layers=config.get("classifier_hidden_layers", 1),
        classifier_dropout=config.get("classifier_dropout_prob", 0.5),
        max_window_seconds=max_window_seconds,
        frozen=frozen,
    )
    state, checkpoint = read_checkpoint(folder)
    load_weights_strictly(teacher, state, "wavlm_odyssey", checkpoint, order)
    return _finish(teacher, source, "wavlm_odyssey", device, frozen)


def load_pretrained_teacher(source, revision=None, **kwargs):
    """Loads either layout, telling them apart by ``config.json``.

    Arguments
    ---------
    source : str or os.PathLike
        Hub id (``owner/name[@revision]``) or local folder.
    revision : str, optional
        Branch, tag or commit hash of a hub id (default: its main branch).
    **kwargs
        Passed to :func:`load_dawn_teacher` or :func:`load_odyssey_teacher`.

    Returns
    -------
    DawnTeacher or OdysseyTeacher
        With ``name``, ``source`` and ``fingerprint`` attributes.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_wav2small.teachers import build_teacher, save_teacher
    >>> teacher = build_teacher("wavlm_odyssey")
    >>> folder = save_teacher(teacher, tempfile.mkdtemp())
    >>> type(load_pretrained_teacher(folder)).__name__
    'OdysseyTeacher'
    """
    folder = _teacher_folder(source, revision)
    model_type = read_json(folder, "config.json").get("model_type")
    load = load_odyssey_teacher if model_type == "ser" else load_dawn_teacher
    teacher = load(folder, **kwargs)
    # Named after what was asked for (a hub id), not its cache folder.
    teacher.source = str(source)
    return teacher
