"""The six students by name: where their YAML lives and how to build them.

Every student YAML has a top-level ``model`` that builds an ``nn.Module``
with ``forward(wavs [batch, time], lengths [batch]) -> [batch, 3]``
(arousal, dominance, valence). Recipes and the CLI refer to students by the
names below or by a path to any YAML that honours the same contract.

The students here also split ``forward`` into ``head(embed(wavs,
lengths))``: ``embed`` gives their embeddings [batch, F], the pooled
features the head reads (338 for Wav2Small, 1024 or 1280 for the
MobileNets), which the exports and both inference interfaces offer too
(:func:`has_embeddings`).

Authors
 * speechbrain-wav2small contributors 2026
"""

from hyperpyyaml import load_hyperpyyaml

from speechbrain_wav2small.utils.presets import preset_file

#: Student name -> YAML file under ``hparams/students``.
STUDENTS = {
    "wav2small": "wav2small.yaml",
    "wav2small_72k": "wav2small_72k.yaml",
    "mobilenetv4_conv_small": "mobilenetv4_conv_small.yaml",
    "mobilenetv4_conv_medium": "mobilenetv4_conv_medium.yaml",
    "mobilenetv3_small": "mobilenetv3_small.yaml",
    "mobilenetv3_large": "mobilenetv3_large.yaml",
}

#: The block of a student YAML that holds how it is distilled (its head's
#: start, the ``demo`` and ``full`` presets of ``run_chain.py --students``):
#: how it was trained, not how it runs, so packages leave it out.
TRAINING_KEY = "training"


def student_hparams_file(student):
    """Path of a student's YAML, from a name in :data:`STUDENTS` or a path.

    Arguments
    ---------
    student : str or os.PathLike
        A name from :data:`STUDENTS` or a path to a YAML file.

    Returns
    -------
    pathlib.Path
        The YAML file.

    Example
    -------
    >>> student_hparams_file("wav2small").name
    'wav2small.yaml'
    """
    return preset_file(student, "student", STUDENTS, "model")


def load_student_hparams(student, overrides=None):
    """Loads a student's YAML (with optional overrides) as a dict.

    Arguments
    ---------
    student : str
        A name from :data:`STUDENTS` or a path to a YAML file.
    overrides : dict or str, optional
        hyperpyyaml overrides.

    Returns
    -------
    dict
        The loaded hyperparameters, with a ``model`` entry.

    Example
    -------
    >>> hparams = load_student_hparams("wav2small", {"channels": 8})
    >>> hparams["model"].head.in_features
    168
    """
    path = student_hparams_file(student)
    with open(path, encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream, overrides)
    if "model" not in hparams:
        raise KeyError(f"{path} has no top-level 'model' key")
    return hparams


def build_student(student, overrides=None):
    """Builds the ``model`` of a student YAML.

    Arguments
    ---------
    student : str or os.PathLike
        A name from :data:`STUDENTS` or a path to a YAML file.
    overrides : dict or str, optional
        hyperpyyaml overrides.

    Returns
    -------
    torch.nn.Module
        The student (random weights for the packaged presets).

    Example
    -------
    >>> model = build_student("wav2small")
    >>> type(model).__name__
    'Wav2Small'
    """
    return load_student_hparams(student, overrides)["model"]


def training_block(hparams):
    """The distillation settings (:data:`TRAINING_KEY`) of a loaded student.

    Arguments
    ---------
    hparams : dict
        A student's loaded YAML (:func:`load_student_hparams`).

    Returns
    -------
    dict
        The block; empty for a YAML of one's own without it.

    Example
    -------
    >>> training_block(load_student_hparams("wav2small"))["zero_head"]
    False
    >>> training_block({"model": None})
    {}
    """
    return hparams.get(TRAINING_KEY) or {}


def has_embeddings(model):
    """Whether ``model`` splits into ``head(embed(wavs, lengths))``, as
    every student of :data:`STUDENTS` does (a student YAML of one's own
    need only honour ``forward``).

    Example
    -------
    >>> from torch import nn
    >>> has_embeddings(build_student("wav2small")), has_embeddings(nn.ReLU())
    (True, False)
    """
    return callable(getattr(model, "embed", None)) and callable(
        getattr(model, "head", None)
    )
