"""Teachers named by their YAML presets (``hparams/teachers``).

A teacher YAML defines a top-level ``teacher`` that calls the loaders of
:mod:`speechbrain_wav2small.teachers.loading`; :func:`load_teacher` reads
it, with the checkpoint ``source`` overridable from the command line.

Authors
 * speechbrain-wav2small contributors 2026
"""

import os

from hyperpyyaml import load_hyperpyyaml

from speechbrain_wav2small.lobes.teachers import EnsembleTeacher
from speechbrain_wav2small.teachers.configs import TEACHERS
from speechbrain_wav2small.teachers.fingerprint import teacher_fingerprint
from speechbrain_wav2small.utils.presets import preset_file


def teacher_hparams_file(teacher):
    """Path of a teacher YAML from a name in :data:`TEACHERS` or a path.

    Arguments
    ---------
    teacher : str or os.PathLike
        A preset name or a path to a YAML file.

    Returns
    -------
    pathlib.Path
        The YAML file.

    Example
    -------
    >>> teacher_hparams_file("ensemble").name
    'ensemble.yaml'
    """
    return preset_file(teacher, "teacher", TEACHERS, "teacher")


def _read_hparams(path, source, overrides):
    """The hyperpyyaml of ``path`` with ``source`` and ``overrides``."""
    if isinstance(overrides, str):
        from ruamel.yaml import YAML

        overrides = YAML(typ="safe").load(overrides) or {}
    overrides = dict(overrides or {})
    if source is not None:
        overrides["source"] = os.fspath(source)
    with open(path, encoding="utf-8") as stream:
        try:
            return load_hyperpyyaml(stream, overrides)
        except KeyError as error:
            if source is not None and "'source'" in str(error):
                raise ValueError(
                    f"{path} has no 'source' to replace (an ensemble has "
                    "dawn_source and wavlm_source: override those)"
                ) from None
            raise


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
    >>> from speechbrain_wav2small.teachers import build_teacher, save_teacher
    >>> folder = save_teacher(build_teacher("dawn"), tempfile.mkdtemp())
    >>> teacher = load_teacher("dawn", source=folder)
    >>> teacher.name, teacher.max_window_seconds
    ('dawn', 12.0)
    """
    path = teacher_hparams_file(os.fspath(hparams_file))
    hparams = _read_hparams(path, source, overrides)
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
