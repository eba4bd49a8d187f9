"""A trained student's checkpoint: finding it and loading it strictly.

A checkpoint is a SpeechBrain checkpoint folder (``CKPT+...``) holding
``model.ckpt`` or the ``.ckpt`` file itself. Loading refuses any weight
that is missing, unexpected or of another shape, naming them, rather than
packaging a student with partly random weights.

Authors
 * speechbrain-wav2small contributors 2026
"""

from pathlib import Path

from speechbrain_wav2small.utils.checksums import file_sha256
from speechbrain_wav2small.utils.model_files import CHECKPOINT_FILE
from speechbrain_wav2small.utils.state_dict import (
    compare_state_dicts,
    load_state_dict_file,
)

__all__ = ["DDP_PREFIX", "file_sha256", "load_checkpoint", "resolve_checkpoint"]

#: Prefix of the keys of a model saved inside DistributedDataParallel.
DDP_PREFIX = "module."


def resolve_checkpoint(checkpoint):
    """The ``.ckpt`` file holding the student's ``state_dict``.

    Arguments
    ---------
    checkpoint : str or os.PathLike
        A SpeechBrain checkpoint folder (``CKPT+...``) holding
        ``model.ckpt``, or a ``.ckpt`` file.

    Returns
    -------
    pathlib.Path

    Example
    -------
    >>> resolve_checkpoint("/nonexistent")
    Traceback (most recent call last):
    ...
    FileNotFoundError: checkpoint /nonexistent does not exist
    """
    path = Path(checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.is_file():
        return path
    if (path / CHECKPOINT_FILE).is_file():
        return path / CHECKPOINT_FILE
    inner = sorted(p.name for p in path.glob("CKPT+*") if p.is_dir())
    hint = (
        f"; it holds the checkpoint folders {', '.join(inner)}: pass one"
        if inner
        else ""
    )
    raise FileNotFoundError(f"no {CHECKPOINT_FILE} in {path}{hint}")


def load_checkpoint(model, checkpoint):
    """Loads a student's ``state_dict`` from a checkpoint, strictly.

    Arguments
    ---------
    model : torch.nn.Module
        The student, built from the YAML it was trained with.
    checkpoint : str or os.PathLike
        See :func:`resolve_checkpoint`.

    Returns
    -------
    pathlib.Path
        The file that was loaded.

    Raises
    ------
    ValueError
        Not a PyTorch ``state_dict`` (a pickle of anything else is refused
        unread, see
        :func:`speechbrain_wav2small.utils.state_dict.load_state_dict_file`),
        or one that does not fit ``model``.

    Example
    -------
    >>> import tempfile, torch
    >>> path = Path(tempfile.mkdtemp()) / "student.ckpt"
    >>> torch.save(torch.nn.Linear(2, 3, bias=False).state_dict(), path)
    >>> load_checkpoint(torch.nn.Linear(2, 3, bias=False), path) == path
    True
    >>> try:
    ...     load_checkpoint(torch.nn.Linear(2, 4, bias=False), path)
    ... except ValueError as error:
    ...     print(str(error).split("student: ")[1])
    weights of the wrong shape (given vs expected): weight (3, 2) vs (4, 2)
    """
    path = resolve_checkpoint(checkpoint)
    state_dict = load_state_dict_file(path)
    if state_dict and all(key.startswith(DDP_PREFIX) for key in state_dict):
        state_dict = {k[len(DDP_PREFIX) :]: v for k, v in state_dict.items()}
    mismatch = compare_state_dicts(model.state_dict(), state_dict)
    if mismatch:
        raise ValueError(
            f"{path} does not match the student: "
            + mismatch.describe(noun="weights")
        )
    model.load_state_dict(state_dict, strict=True)
    return path
