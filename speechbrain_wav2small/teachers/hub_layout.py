"""Saving a teacher in the hub on-disk layout of the matching public model.

The folder written here is read back by
:mod:`speechbrain_wav2small.teachers.loading` (and by :func:`load_teacher`
through a teacher YAML) with the same fingerprint.

Authors
 * speechbrain-wav2small contributors 2026
"""

import json
from pathlib import Path

import transformers

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.teachers.checkpoint import legacy_weight_norm_names
from speechbrain_wav2small.teachers.configs import (
    WAVLM_LARGE,
    WAVLM_LARGE_BACKBONE,
    teacher_kind,
)
from speechbrain_wav2small.utils.durable import atomic_write_files


def _labels():
    """``id2label`` and ``label2id`` of the three dimensions."""
    id2label = {str(i): name for i, name in enumerate(DIMENSIONS)}
    return id2label, {name: i for i, name in enumerate(DIMENSIONS)}


def _preprocessor(do_normalize, return_attention_mask):
    """A ``preprocessor_config.json`` of a wav2vec2 feature extractor."""
    return {
        "do_normalize": do_normalize,
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": return_attention_mask,
        "sampling_rate": SAMPLE_RATE,
    }


def _dawn_files(teacher):
    """The JSON files of Dawn's layout: name -> content."""
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
    return {
        "config.json": config,
        "preprocessor_config.json": _preprocessor(
            teacher.normalize, teacher.masks_padding
        ),
        "vocab.json": {},
    }


def _odyssey_files(teacher):
    """The JSON files of the Odyssey layout: name -> content."""
    backbone = teacher.config.to_dict()
    for key in ("_name_or_path", "dtype", "transformers_version"):
        backbone.pop(key, None)
    is_wavlm_large = all(
        backbone.get(key) == value
        for key, value in WAVLM_LARGE_BACKBONE.items()
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
    return {
        "config.json": config,
        "preprocessor_config.json": _preprocessor(False, True),
    }


def save_teacher(teacher, folder, overwrite=False):
    """Writes a teacher in the hub on-disk layout of the matching model.

    Dawn: ``config.json`` (``Wav2Vec2ForSpeechClassification``, id2label
    arousal/dominance/valence, regression), ``model.safetensors``,
    ``preprocessor_config.json`` (``do_normalize``, 16 kHz), ``vocab.json``.
    Odyssey: ``config.json`` (``model_type`` ``ser``, ``mean``, ``std``,
    head sizes, ``ssl_type``; plus ``ssl_config``, the backbone config),
    ``model.safetensors``, a placeholder ``preprocessor_config.json``.
    Weight-norm tensors are stored as ``weight_g``/``weight_v``, the names
    in the public files. The files are written all or none.

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
    >>> from speechbrain_wav2small.teachers import build_teacher
    >>> folder = save_teacher(build_teacher("dawn"), tempfile.mkdtemp())
    >>> for name in sorted(os.listdir(folder)):
    ...     print(name)
    config.json
    model.safetensors
    preprocessor_config.json
    vocab.json
    """
    from safetensors.torch import save

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
    files = _dawn_files(teacher) if kind == "dawn" else _odyssey_files(teacher)
    contents = {
        folder / name: json.dumps(content, indent=2, sort_keys=True) + "\n"
        for name, content in files.items()
    }
    state = legacy_weight_norm_names(teacher.state_dict())
    state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    contents[folder / "model.safetensors"] = save(
        state, metadata={"format": "pt"}
    )
    atomic_write_files(contents)
    stale = folder / "pytorch_model.bin"
    if stale.exists():
        # Left over from an earlier save: it would hold other weights.
        stale.unlink()
    return folder
