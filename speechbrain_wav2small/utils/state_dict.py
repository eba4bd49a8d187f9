"""Comparing a state dict with what a model expects.

One report of missing, unexpected and mis-shaped entries, used wherever
weights come from outside (teachers, packaged students, the authors'
Wav2Small release), so that a checkpoint that does not fit is refused with
the names of what is wrong instead of loading partly random weights; and
the one reader of PyTorch checkpoint files, :func:`load_state_dict_file`,
which unpickles tensors and plain containers only (``weights_only=True``),
so that a checkpoint never runs code.

Authors
 * speechbrain-wav2small contributors 2026
"""

import re
from pathlib import Path
from typing import NamedTuple


class StateDictMismatch(NamedTuple):
    """Keys of a state dict that do not fit the expected one.

    Made by :func:`compare_state_dicts`; false when everything fits.

    Arguments
    ---------
    missing : list of str
        Expected keys the state dict lacks.
    unexpected : list of str
        Keys of the state dict that are not expected.
    misshaped : list of str
        ``"key (given) vs (expected)"`` descriptions of keys whose shapes
        differ.

    Example
    -------
    >>> bool(StateDictMismatch([], [], []))
    False
    >>> bool(StateDictMismatch(["bias"], [], []))
    True
    """

    missing: list
    unexpected: list
    misshaped: list

    def __bool__(self):
        """True when anything is missing, unexpected or mis-shaped."""
        return bool(self.missing or self.unexpected or self.misshaped)

    def describe(self, limit=8, noun=None):
        """One line naming at most ``limit`` keys of each kind.

        Arguments
        ---------
        limit : int
            Keys named per kind; the rest are counted.
        noun : str, optional
            What the keys are called in the caller's messages (``"keys"``,
            ``"weights"``); it then appears in every label.

        Returns
        -------
        str
            The report, empty when everything fits.

        Example
        -------
        >>> StateDictMismatch(["a"], [], ["b (2,) vs (3,)"]).describe()
        'missing: a; mis-shaped (given vs expected): b (2,) vs (3,)'
        >>> StateDictMismatch(["a"], ["c"], []).describe(noun="keys")
        'missing keys: a; unexpected keys: c'
        """
        missing, unexpected, misshaped = "missing", "unexpected", "mis-shaped"
        if noun:
            missing, unexpected = f"missing {noun}", f"unexpected {noun}"
            misshaped = f"{noun} of the wrong shape"
        parts = []
        for label, keys in (
            (missing, self.missing),
            (unexpected, self.unexpected),
            (f"{misshaped} (given vs expected)", self.misshaped),
        ):
            if keys:
                parts.append(f"{label}: {few(keys, limit)}")
        return "; ".join(parts)


def _shape(value):
    """The shape of a tensor, or ``value`` itself (a shape) as a tuple."""
    return tuple(getattr(value, "shape", value))


def compare_state_dicts(expected, given, optional=()):
    """What in ``given`` does not fit ``expected``.

    Arguments
    ---------
    expected : dict
        Key -> tensor or shape tuple: what the model needs.
    given : dict
        Key -> tensor: what the checkpoint holds.
    optional : collection
        Expected keys that may be absent.

    Returns
    -------
    StateDictMismatch
        False when everything fits.

    Example
    -------
    >>> import torch
    >>> model = torch.nn.Linear(2, 3)
    >>> compare_state_dicts(model.state_dict(), {"weight": torch.ones(3, 2)})
    StateDictMismatch(missing=['bias'], unexpected=[], misshaped=[])
    """
    missing = sorted(set(expected) - set(given) - set(optional))
    unexpected = sorted(set(given) - set(expected))
    misshaped = sorted(
        f"{key} {_shape(given[key])} vs {_shape(expected[key])}"
        for key in set(expected) & set(given)
        if _shape(given[key]) != _shape(expected[key])
    )
    return StateDictMismatch(missing, unexpected, misshaped)


def few(keys, limit=8):
    """``keys`` joined, at most ``limit`` of them, with a count of the rest.

    Arguments
    ---------
    keys : iterable of str
        The keys to name.
    limit : int
        How many to name.

    Returns
    -------
    str
        The keys, comma-separated.

    Example
    -------
    >>> few(["a", "b", "c"], limit=2)
    'a, b, ... (1 more)'
    """
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    more = len(keys) - limit
    return shown + (f", ... ({more} more)" if more > 0 else "")


def load_state_dict_file(path):
    """The state dict in a PyTorch checkpoint file, read without running code.

    ``torch.load(..., weights_only=True)`` is passed explicitly, so that
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` (set by some users to read old
    checkpoints) cannot turn it off: a pickle that names any callable other
    than the tensor constructors is refused before anything runs.
    SpeechBrain's key renaming for old checkpoints is applied, as its own
    loaders do.

    Arguments
    ---------
    path : str or os.PathLike
        The checkpoint (``torch.save`` of a ``state_dict``).

    Returns
    -------
    dict
        Key -> tensor, on the CPU.

    Raises
    ------
    ValueError
        Not a readable PyTorch file, a pickle of other objects (refused
        unread), or not a mapping of names to tensors; the message names
        the file.

    Example
    -------
    >>> import tempfile, torch
    >>> path = Path(tempfile.mkdtemp()) / "model.ckpt"
    >>> torch.save(torch.nn.Linear(2, 3).state_dict(), path)
    >>> sorted(load_state_dict_file(path))
    ['bias', 'weight']
    >>> torch.save({"step": print}, path)
    >>> try:
    ...     load_state_dict_file(path)
    ... except ValueError as error:
    ...     print(str(error).split(": ", 1)[1])  # doctest: +ELLIPSIS
    refused unread: besides tensors it pickles the Python object print, ...
    """
    import pickle

    import torch
    from speechbrain.utils.checkpoints import (
        hook_on_loading_state_dict_checkpoint,
    )

    path = Path(path)
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        named = re.search(r"GLOBAL (\S+)", str(error))
        what = f"the Python object {named[1]}" if named else "Python objects"
        raise ValueError(
            f"{path}: refused unread: besides tensors it pickles {what}, "
            "which could run code when loaded (only plain state dicts are "
            "read, with torch.load weights_only=True)"
        ) from None
    except Exception as error:  # noqa: BLE001 - any reason means "not one"
        raise ValueError(
            f"{path} is not a PyTorch checkpoint: {type(error).__name__}: "
            f"{(str(error).strip().splitlines() or [''])[0][:200]}"
        ) from None
    if not isinstance(state_dict, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor)
        for key, value in state_dict.items()
    ):
        raise ValueError(
            f"{path} does not hold a state_dict (a mapping of names to "
            f"tensors) but a {type(state_dict).__name__}"
        )
    return hook_on_loading_state_dict_checkpoint(state_dict)


def load_module_strictly(module, path, what="the model"):
    """Loads a module's every parameter and buffer from a checkpoint file.

    The file is read by :func:`load_state_dict_file`; it must hold exactly
    the entries of ``module.state_dict()``, with the same shapes.

    Arguments
    ---------
    module : torch.nn.Module
        Receives the weights.
    path : str or os.PathLike
        The checkpoint.
    what : str
        What ``module`` is, for the message.

    Raises
    ------
    ValueError
        The file cannot be read as a state dict (see
        :func:`load_state_dict_file`), or it lacks entries of ``module``,
        holds others, or holds some of another shape: the message names
        the file and the keys.

    Example
    -------
    >>> import tempfile, torch
    >>> path = Path(tempfile.mkdtemp()) / "model.ckpt"
    >>> torch.save({}, path)
    >>> try:
    ...     load_module_strictly(torch.nn.Linear(2, 3), path)
    ... except ValueError as error:
    ...     print(str(error).split(": ", 1)[1])
    missing weights: bias, weight
    """
    state_dict = load_state_dict_file(path)
    mismatch = compare_state_dicts(module.state_dict(), state_dict)
    if mismatch:
        raise ValueError(
            f"{path} does not fit {what} ({type(module).__name__}; loading "
            "it would leave random weights): "
            + mismatch.describe(noun="weights")
        )
    module.load_state_dict(state_dict, strict=True)
