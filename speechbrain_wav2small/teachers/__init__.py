"""Teacher loading, saving and fingerprinting: the one place that does it.

A teacher comes from a hub id or from a local folder holding the hub's
on-disk layout (``config.json``, ``model.safetensors`` or
``pytorch_model.bin``, ``preprocessor_config.json``). Both go through the
same code: a hub id is first turned into a local snapshot folder.

Loading is strict. Every weight of the checkpoint must land in the model and
every weight of the model must come from the checkpoint; in particular a
checkpoint without its regression head, or with a head of the wrong shape,
is refused with an error that names the keys. (Loading the Dawn checkpoint
through a generic transformers audio-classification class silently leaves
the head random: every output is then about 0.33.)

The YAML presets in ``hparams/teachers`` (top-level key ``teacher``) call
the loaders below; :func:`load_teacher` reads them, with the checkpoint
``source`` overridable from the command line.

Typical use::

    teacher = load_teacher("dawn")                        # the hub model
    teacher = load_teacher("dawn", source="exp/teacher")  # a local folder
    save_teacher(teacher, "exp/copy")                     # hub layout

Authors
 * speechbrain-wav2small contributors 2026
"""

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import torch
import transformers
from hyperpyyaml import load_hyperpyyaml
from transformers import Wav2Vec2Config, WavLMConfig

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.lobes.teachers import (
    DawnTeacher,
    EnsembleTeacher,
    OdysseyTeacher,
)
from speechbrain_wav2small.utils.presets import preset_file

logger = logging.getLogger(__name__)

#: Hub ids of the two public teachers.
DAWN_SOURCE = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
ODYSSEY_SOURCE = "3loi/SER-Odyssey-Baseline-WavLM-Multi-Attributes"

#: Teacher name -> YAML file under ``hparams/teachers``.
TEACHERS = {
    "dawn": "dawn.yaml",
    "wavlm_odyssey": "wavlm_odyssey.yaml",
    "ensemble": "ensemble.yaml",
}

#: Weight files, in order of preference (same weights in the public repos).
CHECKPOINT_FILES = ("model.safetensors", "pytorch_model.bin")

#: Files a hub snapshot needs; nothing else is downloaded.
HUB_FILES = [
    "config.json",
    "preprocessor_config.json",
    "vocab.json",
    *CHECKPOINT_FILES,
]

#: The Odyssey backbone named by its config's ``ssl_type``.
WAVLM_LARGE = "microsoft/wavlm-large"

#: Approximate global input statistics of the Odyssey model (its config has
#: the exact values; these only serve random-weight stand-ins).
ODYSSEY_MEAN_APPROX = -8.3e-5
ODYSSEY_STD_APPROX = 0.0849

# wav2vec2-large-robust pruned to 12 layers, as in Dawn's config.json. The
# checkpoint's own config.json is what loading uses; this copy only builds
# random-weight stand-ins of the real architecture (benchmarks, demos).
_DAWN_BACKBONE = {
    "hidden_size": 1024,
    "num_hidden_layers": 12,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "feat_extract_norm": "layer",
    "feat_extract_activation": "gelu",
    "conv_dim": [512] * 7,
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": True,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": True,
    "final_dropout": 0.1,
    "problem_type": "regression",
}

# microsoft/wavlm-large (what the Odyssey config's ssl_type names): its
# config.json is not part of the Odyssey repo, so the architecture is kept
# here to load that repo offline. A wrong value here cannot go unnoticed:
# strict loading would then refuse the checkpoint, naming the keys.
_WAVLM_LARGE_BACKBONE = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "feat_extract_norm": "layer",
    "feat_extract_activation": "gelu",
    "conv_dim": [512] * 7,
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": False,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": True,
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

# torch's weight norm names its two tensors weight_g / weight_v (older
# torch, and the files of the public checkpoints) or
# parametrizations.weight.original0 / original1 (current torch).
_WEIGHT_NORM_NAMES = (
    ("weight_g", "parametrizations.weight.original0"),
    ("weight_v", "parametrizations.weight.original1"),
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class HeadWeightsError(ValueError):
    """A checkpoint's regression head is missing or mis-shaped."""


# --------------------------------------------------------------------------
# Architectures and random-weight teachers


def backbone_config(kind, **overrides):
    """The real backbone config of a teacher kind, with optional overrides.

    Arguments
    ---------
    kind : str
        ``"dawn"`` (wav2vec2-large-robust, 12 layers) or ``"wavlm_odyssey"``
        (WavLM-large).
    **overrides
        Config fields to change (e.g. ``num_hidden_layers=4``).

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
        return WavLMConfig(**dict(_WAVLM_LARGE_BACKBONE, **overrides))
    raise ValueError(f"unknown teacher kind {kind!r}: dawn or wavlm_odyssey")


def tiny_teacher_config(kind, **overrides):
    """A 2-layer, 32-wide backbone config of the real architecture.

    For tests and demos: it keeps the real model's conv kernels, strides
    and normalisation flags, so only the sizes differ.

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

    Example
    -------
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
    raise ValueError(f"unknown teacher kind {kind!r}: dawn or wavlm_odyssey")


def teacher_kind(teacher):
    """``"dawn"``, ``"wavlm_odyssey"`` or ``"ensemble"`` for a teacher."""
    if isinstance(teacher, DawnTeacher):
        return "dawn"
    if isinstance(teacher, OdysseyTeacher):
        return "wavlm_odyssey"
    if isinstance(teacher, EnsembleTeacher):
        return "ensemble"
    raise TypeError(f"not a teacher of this package: {type(teacher)}")


# --------------------------------------------------------------------------
# Sources: hub ids and local folders


def _looks_like_path(text):
    return (
        not _HUB_ID.match(text) or text.startswith((".", "~")) or "\\" in text
    )


def resolve_source(source, allow_patterns=None):
    """The local folder of a teacher checkpoint: a folder or a hub snapshot.

    A folder that exists is used as it is, offline. Anything that looks like
    a path (absolute, ``./``, ``~``, no ``owner/name`` shape) and does not
    exist is an error: it is never sent to the hub. An ``owner/name`` that is
    not a local folder is downloaded (or taken from the hub cache).

    Arguments
    ---------
    source : str or os.PathLike
        Hub id or local folder.
    allow_patterns : list of str, optional
        Files to fetch from the hub (default :data:`HUB_FILES`).

    Returns
    -------
    pathlib.Path
        A local folder.

    Example
    -------
    >>> resolve_source("/no/such/teacher")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: teacher source /no/such/teacher does not exist (...)
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(
            f"teacher source {text} is a file; expected a folder holding "
            "config.json and the weights"
        )
    if isinstance(source, os.PathLike) or _looks_like_path(text):
        raise FileNotFoundError(
            f"teacher source {text} does not exist (a local path, so the "
            "hub was not asked)"
        )
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id=text, allow_patterns=allow_patterns or HUB_FILES
        )
    except Exception as error:  # noqa: BLE001 - any hub failure means "no"
        raise FileNotFoundError(
            f"teacher source {text!r} is not a local folder and the hub "
            f"could not provide it ({type(error).__name__}: {error})"
        ) from error
    return Path(folder)


def _read_json(folder, name, required=True):
    path = Path(folder) / name
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{path} does not exist")
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None


def read_checkpoint(folder):
    """The state dict of a hub-layout folder and the file it came from.

    ``model.safetensors`` is preferred; ``pytorch_model.bin`` is read with
    ``weights_only=True`` (no arbitrary code from a pickle).
    """
    for name in CHECKPOINT_FILES:
        path = Path(folder) / name
        if not path.is_file():
            continue
        if name.endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(str(path)), path
        state = torch.load(path, map_location="cpu", weights_only=True)
        return state, path
    raise FileNotFoundError(
        f"{folder} holds no weights: expected {' or '.join(CHECKPOINT_FILES)}"
    )


# --------------------------------------------------------------------------
# Strict loading


def _rename_weight_norm(state, wanted_keys):
    """Renames weight-norm tensors to the naming ``wanted_keys`` uses."""
    wanted = set(wanted_keys)
    renamed = {}
    for key, value in state.items():
        for old, new in _WEIGHT_NORM_NAMES:
            for src, dst in ((old, new), (new, old)):
                if key.endswith("." + src):
                    candidate = key[: -len(src)] + dst
                    if key not in wanted and candidate in wanted:
                        key = candidate
        renamed[key] = value
    return renamed


def _output_order(config, where):
    """Row permutation putting the head's outputs in A/D/V order, or None."""
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


def _load_weights(teacher, state, kind, checkpoint, order=None):
    """Strictly loads ``state`` into ``teacher``; refuses a bad head."""
    expected = teacher.state_dict()
    state = _rename_weight_norm(state, expected)
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
    misshaped = [
        f"{key} is {list(state[key].shape)}, expected "
        f"{list(expected[key].shape)}"
        for key in expected
        if key in state and state[key].shape != expected[key].shape
    ]
    bad_head = [line for line in misshaped if line.split(" ")[0] in head]
    if bad_head:
        raise HeadWeightsError(
            f"{checkpoint} has a mis-shaped regression head: "
            + "; ".join(bad_head)
        )
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} weights ({_few(missing)})")
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected weights ({_few(unexpected)})"
        )
    if misshaped:
        problems.append(f"mis-shaped weights ({_few(misshaped)})")
    if problems:
        raise ValueError(
            f"{checkpoint} does not match its config.json: "
            + "; ".join(problems)
        )
    if order is not None:
        for key in _OUTPUT_KEYS[kind]:
            state[key] = state[key][order]
    teacher.load_state_dict(state, strict=True)


def _few(keys, limit=6):
    shown = ", ".join(keys[:limit])
    return shown + (
        f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    )


def _finish(teacher, source, name, device, frozen):
    if frozen:
        teacher.freeze()
    teacher.to(device)
    teacher.name = name
    teacher.source = str(source)
    teacher.fingerprint = teacher_fingerprint(teacher)
    return teacher


def load_dawn_teacher(
    source=DAWN_SOURCE, max_window_seconds=12.0, device="cpu", frozen=True
):
    """Loads a Dawn-layout checkpoint (wav2vec2 + dense/tanh/out_proj head).

    Arguments
    ---------
    source : str or os.PathLike
        Hub id or local folder with ``config.json`` (``model_type``
        ``wav2vec2``), weights and ``preprocessor_config.json``.
    max_window_seconds : float or None
        Longest window the backbone sees (see :class:`DawnTeacher`).
    device : str
        Where to put the teacher.
    frozen : bool
        Frozen and always in eval (default), or trainable for fine-tuning.

    Returns
    -------
    DawnTeacher
        With ``name``, ``source`` and ``fingerprint`` attributes.

    Example
    -------
    >>> import tempfile
    >>> folder = save_teacher(build_teacher("dawn"), tempfile.mkdtemp())
    >>> load_dawn_teacher(folder).fingerprint.startswith("sha256:")
    True
    """
    folder = resolve_source(source)
    config = _read_json(folder, "config.json")
    if config.get("model_type") != "wav2vec2":
        raise ValueError(
            f"{Path(folder) / 'config.json'}: model_type is "
            f"{config.get('model_type')!r}, not 'wav2vec2': not a Dawn-layout "
            "checkpoint (an Odyssey checkpoint has model_type 'ser')"
        )
    preprocessor = _read_json(folder, "preprocessor_config.json", False) or {}
    rate = preprocessor.get("sampling_rate", SAMPLE_RATE)
    if rate != SAMPLE_RATE:
        raise ValueError(
            f"{folder}: preprocessor sampling_rate is {rate}, not {SAMPLE_RATE}"
        )
    num_labels = len(config.get("id2label") or {}) or len(DIMENSIONS)
    if num_labels != len(DIMENSIONS):
        raise ValueError(
            f"{Path(folder) / 'config.json'} has {num_labels} labels, "
            "expected arousal, dominance, valence"
        )
    order = _output_order(config, Path(folder) / "config.json")
    teacher = DawnTeacher(
        Wav2Vec2Config(**config),
        normalize=preprocessor.get("do_normalize", True),
        max_window_seconds=max_window_seconds,
        frozen=frozen,
    )
    state, checkpoint = read_checkpoint(folder)
    _load_weights(teacher, state, "dawn", checkpoint, order)
    return _finish(teacher, source, "dawn", device, frozen)


def _odyssey_backbone(config, folder):
    where = Path(folder) / "config.json"
    if "ssl_config" in config:
        backbone = WavLMConfig(**config["ssl_config"])
    elif config.get("ssl_type", WAVLM_LARGE) == WAVLM_LARGE:
        backbone = backbone_config("wavlm_odyssey")
    else:
        ssl_folder = resolve_source(config["ssl_type"], ["config.json"])
        ssl_config = _read_json(ssl_folder, "config.json")
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


def load_odyssey_teacher(
    source=ODYSSEY_SOURCE, max_window_seconds=12.0, device="cpu", frozen=True
):
    """Loads an Odyssey-layout checkpoint (WavLM + attentive pooling + MLP).

    The backbone's architecture comes from ``ssl_config`` in
    ``config.json`` when present (written by :func:`save_teacher`), else
    from ``ssl_type`` (WavLM-large for the public model, known offline).
    No custom code from the hub is run.

    Arguments
    ---------
    source : str or os.PathLike
        Hub id or local folder with ``config.json`` (``model_type`` ``ser``,
        ``mean``, ``std``) and weights.
    max_window_seconds : float or None
        Longest window the backbone sees (the public model was trained on
        crops of at most 12 s).
    device : str
        Where to put the teacher.
    frozen : bool
        Frozen and always in eval (default), or trainable for fine-tuning.

    Returns
    -------
    OdysseyTeacher
        With ``name``, ``source`` and ``fingerprint`` attributes.

    Example
    -------
    >>> import tempfile
    >>> original = build_teacher("wavlm_odyssey", seed=0)
    >>> folder = save_teacher(original, tempfile.mkdtemp())
    >>> loaded = load_odyssey_teacher(folder)
    >>> loaded.fingerprint == teacher_fingerprint(original)
    True
    """
    folder = resolve_source(source)
    config = _read_json(folder, "config.json")
    where = Path(folder) / "config.json"
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
    order = _output_order(config, where)
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
    _load_weights(teacher, state, "wavlm_odyssey", checkpoint, order)
    return _finish(teacher, source, "wavlm_odyssey", device, frozen)


def load_pretrained_teacher(source, **kwargs):
    """Loads either layout, telling them apart by ``config.json``.

    Example
    -------
    >>> import tempfile
    >>> folder = save_teacher(build_teacher("dawn"), tempfile.mkdtemp())
    >>> type(load_pretrained_teacher(folder)).__name__
    'DawnTeacher'
    """
    folder = resolve_source(source)
    model_type = _read_json(folder, "config.json").get("model_type")
    if model_type == "ser":
        return load_odyssey_teacher(folder, **kwargs)
    return load_dawn_teacher(folder, **kwargs)


# --------------------------------------------------------------------------
# YAML presets


def teacher_hparams_file(teacher):
    """Path of a teacher YAML from a name in :data:`TEACHERS` or a path.

    Example
    -------
    >>> teacher_hparams_file("ensemble").name
    'ensemble.yaml'
    """
    return preset_file(teacher, "teacher", TEACHERS, "teacher")


def load_teacher(hparams_file, source=None, device="cpu", overrides=None):
    """Builds the ``teacher`` of a teacher YAML.

    Arguments
    ---------
    hparams_file : str or os.PathLike
        A name from :data:`TEACHERS` or a YAML path.
    source : str, optional
        Replaces the YAML's ``source`` (hub id or local folder). Ensembles
        have ``dawn_source`` and ``wavlm_source`` instead: set them through
        ``overrides``.
    device : str
        Where to put the teacher.
    overrides : dict or str, optional
        hyperpyyaml overrides (e.g. ``{"max_window_seconds": 8}``).

    Returns
    -------
    torch.nn.Module
        The frozen teacher, with ``name``, ``source`` and ``fingerprint``.

    Example
    -------
    >>> import tempfile
    >>> folder = save_teacher(build_teacher("dawn"), tempfile.mkdtemp())
    >>> teacher = load_teacher("dawn", source=folder)
    >>> teacher.name, teacher.max_window_seconds
    ('dawn', 12.0)
    """
    path = teacher_hparams_file(os.fspath(hparams_file))
    if isinstance(overrides, str):
        from ruamel.yaml import YAML

        overrides = YAML(typ="safe").load(overrides) or {}
    overrides = dict(overrides or {})
    if source is not None:
        overrides["source"] = os.fspath(source)
    with open(path, encoding="utf-8") as stream:
        try:
            hparams = load_hyperpyyaml(stream, overrides)
        except KeyError as error:
            if source is not None and "'source'" in str(error):
                raise ValueError(
                    f"{path} has no 'source' to replace (an ensemble has "
                    "dawn_source and wavlm_source: override those)"
                ) from None
            raise
    if "teacher" not in hparams:
        raise KeyError(f"{path} has no top-level 'teacher' key")
    teacher = hparams["teacher"].to(device)
    teacher.name = path.stem
    if isinstance(teacher, EnsembleTeacher):
        teacher.source = " + ".join(
            getattr(member, "source", "?") for member in teacher.members
        )
    else:
        teacher.source = str(
            hparams.get("source", getattr(teacher, "source", ""))
        )
    teacher.fingerprint = teacher_fingerprint(teacher)
    return teacher


# --------------------------------------------------------------------------
# Fingerprints


def teacher_fingerprint(teacher):
    """SHA-256 over a teacher's inference config and weight bytes.

    The inference config holds the backbone's architecture fields, the
    window and the normalisation constants; the weights are hashed tensor by
    tensor (name, dtype, shape, bytes, sorted by name, weight-norm names
    made canonical), so the fingerprint is the same whether a teacher was
    read from ``model.safetensors``, from ``pytorch_model.bin`` or is still
    in memory. An ensemble hashes its weights and members' fingerprints.

    Returns
    -------
    str
        ``"sha256:<64 hex digits>"``.

    Example
    -------
    >>> teacher = build_teacher("dawn", seed=0)
    >>> first = teacher_fingerprint(teacher)
    >>> with torch.no_grad():
    ...     teacher.classifier.out_proj.bias += 1e-3
    >>> teacher_fingerprint(teacher) == first
    False
    """
    digest = hashlib.sha256()
    config = teacher.inference_config()
    digest.update(json.dumps(config, sort_keys=True).encode("utf-8"))
    if isinstance(teacher, EnsembleTeacher):
        for member in teacher.members:
            digest.update(teacher_fingerprint(member).encode("ascii"))
        return "sha256:" + digest.hexdigest()
    state = _legacy_weight_norm_names(teacher.state_dict())
    for key in sorted(state):
        tensor = state[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def _legacy_weight_norm_names(state):
    renamed = {}
    for key, value in state.items():
        for old, new in _WEIGHT_NORM_NAMES:
            if key.endswith("." + new):
                key = key[: -len(new)] + old
        renamed[key] = value
    return renamed


# --------------------------------------------------------------------------
# Saving in the hub layout


def _labels():
    id2label = {str(i): name for i, name in enumerate(DIMENSIONS)}
    return id2label, {name: i for i, name in enumerate(DIMENSIONS)}


def _dawn_files(teacher):
    config = teacher.config.to_dict()
    for key in ("_name_or_path", "dtype"):
        config.pop(key, None)
    id2label, label2id = _labels()
    config.update(
        architectures=["Wav2Vec2ForSpeechClassification"],
        model_type="wav2vec2",
        id2label=id2label,
        label2id=label2id,
        problem_type="regression",
        final_dropout=teacher.classifier.dropout.p,
        torch_dtype="float32",
        transformers_version=transformers.__version__,
    )
    preprocessor = {
        "do_normalize": teacher.normalize,
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": teacher.masks_padding,
        "sampling_rate": SAMPLE_RATE,
    }
    return {
        "config.json": config,
        "preprocessor_config.json": preprocessor,
        "vocab.json": {},
    }


def _odyssey_files(teacher):
    backbone = teacher.config.to_dict()
    for key in ("_name_or_path", "dtype", "transformers_version"):
        backbone.pop(key, None)
    is_wavlm_large = all(
        backbone.get(key) == value
        for key, value in _WAVLM_LARGE_BACKBONE.items()
    )
    id2label, label2id = _labels()
    config = {
        "architectures": ["SERModel"],
        # The public repo's custom code; this package never runs it.
        "auto_map": {
            "AutoConfig": "pipeline_utils.SERConfig",
            "AutoModelForAudioClassification": "pipeline_utils.SERModel",
        },
        "model_type": "ser",
        "mean": teacher.mean,
        "std": teacher.std,
        "hidden_size": backbone["hidden_size"],
        "num_hidden_layers": backbone["num_hidden_layers"],
        "num_attention_heads": backbone["num_attention_heads"],
        "classifier_hidden_layers": teacher.classifier_hidden_layers,
        "classifier_dropout_prob": teacher.classifier_dropout,
        "num_classes": len(DIMENSIONS),
        "maxlen": 12 * SAMPLE_RATE,
        "ssl_type": WAVLM_LARGE if is_wavlm_large else "wavlm (see ssl_config)",
        "sampling_rate": SAMPLE_RATE,
        "id2label": id2label,
        "label2id": label2id,
        "torch_dtype": "float32",
        "transformers_version": transformers.__version__,
        # Not in the public config (whose backbone is named by ssl_type):
        # the full backbone config, so any WavLM size reloads offline.
        "ssl_config": backbone,
    }
    # The public repo's preprocessor config is a placeholder nobody reads.
    preprocessor = {
        "do_normalize": False,
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": True,
        "sampling_rate": SAMPLE_RATE,
    }
    return {"config.json": config, "preprocessor_config.json": preprocessor}


def _write_atomically(path, write):
    partial = path.with_name(path.name + ".partial")
    write(partial)
    os.replace(partial, path)


def save_teacher(teacher, folder, overwrite=False):
    """Writes a teacher in the hub on-disk layout of the matching model.

    Dawn: ``config.json`` (``Wav2Vec2ForSpeechClassification``, id2label
    arousal/dominance/valence, regression), ``model.safetensors``,
    ``preprocessor_config.json`` (``do_normalize``, 16 kHz), ``vocab.json``.
    Odyssey: ``config.json`` (``model_type`` ``ser``, ``mean``, ``std``,
    head sizes, ``ssl_type``; plus ``ssl_config``, the backbone config),
    ``model.safetensors``, a placeholder ``preprocessor_config.json``.
    Weight-norm tensors are stored as ``weight_g``/``weight_v``, the names
    in the public files. :func:`load_teacher` and the loaders above read the
    folder back with the same fingerprint.

    Arguments
    ---------
    teacher : DawnTeacher or OdysseyTeacher
        The teacher (an ensemble is saved member by member).
    folder : str or os.PathLike
        Destination folder; created if needed.
    overwrite : bool
        Replace the files of a folder that is not empty (else an error).

    Returns
    -------
    pathlib.Path
        The folder.

    Example
    -------
    >>> import os, tempfile
    >>> folder = save_teacher(build_teacher("dawn"), tempfile.mkdtemp())
    >>> for name in sorted(os.listdir(folder)):
    ...     print(name)
    config.json
    model.safetensors
    preprocessor_config.json
    vocab.json
    """
    from safetensors.torch import save_file

    kind = teacher_kind(teacher)
    if kind == "ensemble":
        raise TypeError(
            "an ensemble has no hub layout: save each of teacher.members"
        )
    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{folder} is not empty; pass overwrite=True to replace its files"
        )
    folder.mkdir(parents=True, exist_ok=True)
    files = _dawn_files(teacher) if kind == "dawn" else _odyssey_files(teacher)
    for name, content in files.items():
        text = json.dumps(content, indent=2, sort_keys=True) + "\n"
        _write_atomically(
            folder / name, lambda p, t=text: p.write_text(t, encoding="utf-8")
        )
    state = _legacy_weight_norm_names(teacher.state_dict())
    state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    _write_atomically(
        folder / "model.safetensors",
        lambda p: save_file(state, str(p), metadata={"format": "pt"}),
    )
    stale = folder / "pytorch_model.bin"
    if stale.exists():
        # Left over from an earlier save: it would hold other weights.
        stale.unlink()
    return folder
