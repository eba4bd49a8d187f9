"""Model sources: a local path, or a model-hub id (``owner/name``).

The one rule for telling them apart, used by the teachers, both inference
interfaces and the CLI: an existing path is local; anything that looks like
a path (absolute, ``./``, ``~``, a drive letter, a backslash, not exactly
``owner/name``) and does not exist is an error and is never sent to the
hub; an ``owner/name`` that is not a local folder is a hub id, fetched with
``huggingface_hub`` (which serves it from its cache, also offline).

Torch-free: the ONNX interface uses it too.

Authors
 * speechbrain-wav2small contributors 2026
"""

import os
import re
from pathlib import Path

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(source):
    """True when ``source`` names a hub repository rather than a path.

    Only the form is checked (``owner/name``, not path-like); nothing is
    looked up on disk or on the hub.

    Arguments
    ---------
    source : str or os.PathLike
        The source to classify; a path object is never a hub id.

    Returns
    -------
    bool
        Whether ``source`` has the form of a hub id.

    Example
    -------
    >>> is_hub_id("audeering/wav2vec2-large"), is_hub_id("./models/x")
    (True, False)
    >>> is_hub_id("/abs/path"), is_hub_id("folder")
    (False, False)
    """
    if isinstance(source, os.PathLike):
        return False
    text = str(source)
    return bool(
        _HUB_ID.match(text)
        and not text.startswith((".", "~"))
        and "\\" not in text
        and not os.path.splitdrive(text)[0]
    )


def check_source(source, what="model", folder=True):
    """Refuses a source that is neither an existing path nor a hub id.

    Arguments
    ---------
    source : str or os.PathLike
        Local path or hub id.
    what : str
        What the source holds, for the error messages.
    folder : bool
        Whether a local source must be a folder (a file is then refused).

    Returns
    -------
    bool
        True for a hub id, False for an existing local path.

    Example
    -------
    >>> check_source("/no/such/model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: model /no/such/model does not exist (...)
    >>> check_source("owner/name")
    True
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        return False
    if path.exists():
        if folder:
            raise NotADirectoryError(
                f"{what} {text} is a file; expected a folder"
            )
        return False
    if not is_hub_id(source):
        raise FileNotFoundError(
            f"{what} {text} does not exist (a local path, so the hub was "
            "not asked; a hub id looks like 'owner/name')"
        )
    return True


def resolve_source(source, what="model", allow_patterns=None, folder=True):
    """The local path of ``source``: itself, or its hub snapshot.

    Arguments
    ---------
    source : str or os.PathLike
        Local path or hub id.
    what : str
        What the source holds, for the error messages.
    allow_patterns : list of str, optional
        The files to fetch from the hub (default: all).
    folder : bool
        Whether a local source must be a folder.

    Returns
    -------
    pathlib.Path
        A local folder (or file, with ``folder=False``).

    Raises
    ------
    FileNotFoundError
        A local-looking path that does not exist, or a hub id that neither
        the hub nor its cache can provide.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> resolve_source(folder) == Path(folder)
    True
    """
    if not check_source(source, what, folder):
        return Path(os.fspath(source)).expanduser()
    from huggingface_hub import snapshot_download

    try:
        snapshot = snapshot_download(
            repo_id=str(source), allow_patterns=allow_patterns
        )
    except Exception as error:  # noqa: BLE001 - any hub failure means "no"
        raise FileNotFoundError(
            f"{what} {str(source)!r} is not a local folder and the hub "
            f"could not provide it ({type(error).__name__}: {error})"
        ) from error
    return Path(snapshot)
