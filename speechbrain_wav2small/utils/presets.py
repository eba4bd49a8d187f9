"""Where the packaged YAML presets live and how a name finds its file.

Students (``hparams/students``) and teachers (``hparams/teachers``) are
named by a short preset name or by a path to any YAML file that honours the
same contract.

Authors
 * speechbrain-wav2small contributors 2026
"""

from pathlib import Path


def hparams_dir():
    """The folder holding the packaged YAML files (``hparams/``).

    An installed package carries them as ``speechbrain_wav2small/hparams``;
    a source checkout has them at the repository's top level.

    Returns
    -------
    pathlib.Path
        The folder holding ``students/`` and ``teachers/``.

    Raises
    ------
    FileNotFoundError
        Neither place holds the YAML files.

    Example
    -------
    >>> (hparams_dir() / "students" / "wav2small.yaml").is_file()
    True
    """
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "hparams", package.parent / "hparams"):
        if (candidate / "students").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no hparams/students folder next to {package}; is the package "
        "installed with its YAML files?"
    )


def preset_file(name_or_path, kind, presets, top_level_key):
    """Path of a preset YAML, from a preset name or a path to a YAML file.

    Arguments
    ---------
    name_or_path : str or os.PathLike
        A key of ``presets`` or a path ending in ``.yaml`` / ``.yml``.
    kind : str
        ``"student"`` or ``"teacher"``: the sub-folder (plural) and the
        word used in error messages.
    presets : dict
        Preset name -> file name in ``hparams/<kind>s``.
    top_level_key : str
        The key such a YAML must define (named in the error message).

    Returns
    -------
    pathlib.Path
        The YAML file.

    Raises
    ------
    FileNotFoundError
        A YAML path that does not exist.
    ValueError
        Neither a preset name nor a YAML path.

    Example
    -------
    >>> preset_file("a", "student", {"a": "wav2small.yaml"}, "model").name
    'wav2small.yaml'
    """
    if name_or_path in presets:
        return hparams_dir() / f"{kind}s" / presets[name_or_path]
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"{kind} YAML {path} does not exist")
        return path
    raise ValueError(
        f"unknown {kind} {name_or_path!r}: use one of {', '.join(presets)} "
        f"or a path to a YAML file with a top-level '{top_level_key}'"
    )
