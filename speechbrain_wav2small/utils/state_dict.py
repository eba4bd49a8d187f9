"""Comparing a state dict with what a model expects.

One report of missing, unexpected and mis-shaped entries, used wherever
weights come from outside (teachers, packaged students, the authors'
Wav2Small release), so that a checkpoint that does not fit is refused with
the names of what is wrong instead of loading partly random weights.

Authors
 * speechbrain-wav2small contributors 2026
"""

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
