"""The files of a teacher checkpoint in the hub layout, and their naming.

A teacher checkpoint is a folder holding ``config.json``, the weights
(``model.safetensors`` or ``pytorch_model.bin``) and, for Dawn,
``preprocessor_config.json`` and ``vocab.json``: the on-disk layout of the
public checkpoints. This module reads those files and translates between
the weight-norm tensor names of the files and those of the running torch.

Authors
 * speechbrain-wav2small contributors 2026
"""

import json
from pathlib import Path

import torch

#: Weight files, in order of preference (same weights in the public repos).
CHECKPOINT_FILES = ("model.safetensors", "pytorch_model.bin")

#: Files a hub snapshot needs; nothing else is downloaded.
HUB_FILES = [
    "config.json",
    "preprocessor_config.json",
    "vocab.json",
    *CHECKPOINT_FILES,
]

# torch's weight norm names its two tensors weight_g / weight_v (older
# torch, and the files of the public checkpoints) or
# parametrizations.weight.original0 / original1 (current torch).
_WEIGHT_NORM_NAMES = (
    ("weight_g", "parametrizations.weight.original0"),
    ("weight_v", "parametrizations.weight.original1"),
)


def read_json(folder, name, required=True):
    """The content of the JSON file ``name`` in ``folder``.

    Arguments
    ---------
    folder : str or os.PathLike
        The checkpoint folder.
    name : str
        File name, e.g. ``"config.json"``.
    required : bool
        Whether a missing file is an error (else ``None`` is returned).

    Returns
    -------
    object or None
        The decoded JSON.

    Example
    -------
    >>> import tempfile
    >>> print(read_json(tempfile.mkdtemp(), "vocab.json", required=False))
    None
    """
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

    Arguments
    ---------
    folder : str or os.PathLike
        The checkpoint folder.

    Returns
    -------
    tuple
        ``(state_dict, pathlib.Path of the weight file)``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> torch.save({"w": torch.ones(2)}, f"{folder}/pytorch_model.bin")
    >>> state, path = read_checkpoint(folder)
    >>> list(state), path.name
    (['w'], 'pytorch_model.bin')
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


def rename_weight_norm(state, wanted_keys):
    """Renames weight-norm tensors to the naming ``wanted_keys`` uses.

    Arguments
    ---------
    state : dict
        A state dict, with either naming of weight-norm tensors.
    wanted_keys : collection of str
        The keys the model expects.

    Returns
    -------
    dict
        ``state`` with its weight-norm keys renamed where that makes them
        match ``wanted_keys``.

    Example
    -------
    >>> wanted = ["conv.parametrizations.weight.original0"]
    >>> list(rename_weight_norm({"conv.weight_g": 1}, wanted))
    ['conv.parametrizations.weight.original0']
    """
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


def legacy_weight_norm_names(state):
    """``state`` with weight-norm tensors named ``weight_g``/``weight_v``.

    The names of the public files and of older torch: one naming whatever
    torch runs, for saving and for fingerprints.

    Arguments
    ---------
    state : dict
        A state dict.

    Returns
    -------
    dict
        The same tensors, weight-norm keys renamed.

    Example
    -------
    >>> state = {"c.parametrizations.weight.original1": 0}
    >>> list(legacy_weight_norm_names(state))
    ['c.weight_v']
    """
    renamed = {}
    for key, value in state.items():
        for old, new in _WEIGHT_NORM_NAMES:
            if key.endswith("." + new):
                key = key[: -len(new)] + old
        renamed[key] = value
    return renamed
