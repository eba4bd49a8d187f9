"""Model sources: a local path, or a model-hub id (``owner/name``).

The one rule for telling them apart, used by the teachers, both inference
interfaces and the CLI:

* ``hf://owner/name`` is always a hub id, whatever exists on disk;
* an existing path is local;
* anything that looks like a path (absolute, ``./``, ``~``, a drive
  letter, a backslash, not exactly ``owner/name``, or a name ending in
  ``.onnx``, which is always a file) and does not exist is an error, never
  sent to the hub;
* ``owner/name`` (SpeechBrain's way of naming hub models) is a hub id,
  unless a local folder ``owner/`` exists: then it is most likely a
  mistyped local path, and is refused, saying to write ``hf://owner/name``
  to mean the hub.

Every hub fetch (a download or a cache lookup) is announced by one INFO
line, "fetching owner/name from the model hub", so that a source is never
fetched silently.

A hub id may pin a revision (a branch, a tag or a commit hash) as
``owner/name@revision`` (or ``hf://owner/name@revision``), or through the
``revision=`` keyword of the APIs that take a source. Hub ids are fetched
with ``huggingface_hub`` into its cache (``HF_HUB_CACHE``, by default
``$HF_HOME/hub``), which serves them again without the network, also with
``HF_HUB_OFFLINE=1``. A failed fetch is one ``FileNotFoundError`` naming
the id, the revision and why.

Torch-free: the ONNX interface uses it too.

Authors
 * speechbrain-wav2small contributors 2026
"""

import logging
import os
import re
from pathlib import Path

logger = logging.getLogger(__name__)

#: Written before ``owner/name``, says "the model hub" whatever exists on
#: disk.
HUB_PREFIX = "hf://"

# A revision is a branch, a tag or a commit hash; branches may hold
# slashes (``refs/pr/1``).
_HUB_ID = re.compile(
    r"^(?P<repo_id>[A-Za-z0-9][\w.-]*/[\w.-]+)"
    r"(?:@(?P<revision>[\w.-]+(?:/[\w.-]+)*))?$"
)
_COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")

#: The suffix of an ONNX file name: such a name is never a hub id.
ONNX_SUFFIX = ".onnx"


def is_hub_id(source):
    """True when ``source`` names a hub repository rather than a path.

    Only the form is checked (``owner/name`` or ``owner/name@revision``,
    not path-like, not ending in ``.onnx``); nothing is looked up on disk
    or on the hub. The ``hf://`` of a source is not part of the form (see
    :func:`strip_hub_prefix`), so this also checks a repository id to
    upload to.

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
    >>> is_hub_id("owner/name@v1.0"), is_hub_id("exports/model.onnx")
    (True, False)
    """
    if isinstance(source, os.PathLike):
        return False
    text = str(source)
    return bool(
        _HUB_ID.match(text)
        and not text.startswith((".", "~"))
        and "\\" not in text
        and not os.path.splitdrive(text)[0]
        and not text.lower().endswith(ONNX_SUFFIX)
    )


def split_revision(source, revision=None):
    """The repository id and the revision of a hub id.

    Arguments
    ---------
    source : str
        A hub id, ``owner/name`` or ``owner/name@revision``, optionally
        after ``hf://``.
    revision : str, optional
        A revision given separately; it must agree with one in ``source``.

    Returns
    -------
    repo_id : str
        ``owner/name``.
    revision : str or None
        The branch, tag or commit hash; ``None`` for the default branch.

    Example
    -------
    >>> split_revision("owner/name@v1.0")
    ('owner/name', 'v1.0')
    >>> split_revision("owner/name", revision="main")
    ('owner/name', 'main')
    >>> split_revision("hf://owner/name@v2")
    ('owner/name', 'v2')
    >>> split_revision("owner/name@v1", revision="v2")
    Traceback (most recent call last):
    ...
    ValueError: owner/name@v1 names revision 'v1' but revision='v2' was given
    """
    text = str(source)
    bare = strip_hub_prefix(source)
    match = _HUB_ID.match(bare) if is_hub_id(bare) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not a hub id ('owner/name' or 'owner/name@revision',"
            f" optionally after {HUB_PREFIX})"
        )
    named = match["revision"]
    revision = revision or None
    if named and revision and named != revision:
        raise ValueError(
            f"{text} names revision {named!r} but revision={revision!r} was "
            "given"
        )
    return match["repo_id"], named or revision


def strip_hub_prefix(source):
    """``source`` without a leading ``hf://`` (as text), or as it is.

    Arguments
    ---------
    source : str or os.PathLike
        A source; a path object is returned unchanged.

    Returns
    -------
    str or os.PathLike

    Example
    -------
    >>> strip_hub_prefix("hf://owner/name@v1"), strip_hub_prefix("owner/name")
    ('owner/name@v1', 'owner/name')
    """
    if isinstance(source, os.PathLike):
        return source
    text = str(source)
    return text[len(HUB_PREFIX) :] if text.startswith(HUB_PREFIX) else text


def announce_fetch(repo_id, revision=None):
    """Logs the one INFO line that precedes every hub fetch.

    Arguments
    ---------
    repo_id : str
        ``owner/name``.
    revision : str, optional
        The revision asked for.

    Example
    -------
    >>> announce_fetch("owner/name", "v1")  # logs, returns nothing
    """
    label = f"{repo_id}@{revision}" if revision else repo_id
    logger.info("fetching %s from the model hub", label)


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

    Raises
    ------
    FileNotFoundError
        A path that does not exist and does not have the form of a hub id,
        or an ``owner/name`` whose ``owner/`` is a local folder.
    NotADirectoryError
        A file, where a folder is needed.
    ValueError
        ``hf://`` followed by something other than a hub id.

    Example
    -------
    >>> check_source("/no/such/model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: model /no/such/model does not exist (...)
    >>> check_source("owner/name"), check_source("hf://owner/name@v1.0")
    (True, True)
    """
    text = os.fspath(source)
    if text.startswith(HUB_PREFIX):
        if not is_hub_id(text[len(HUB_PREFIX) :]):
            raise ValueError(
                f"{what} {text}: {HUB_PREFIX} must be followed by a hub id, "
                "'owner/name' or 'owner/name@revision'"
            )
        return True
    path = Path(text).expanduser()
    if path.is_dir():
        return False
    if path.exists():
        if folder:
            raise NotADirectoryError(
                f"{what} {text} is a file; expected a folder"
            )
        return False
    if text.lower().endswith(ONNX_SUFFIX):
        raise FileNotFoundError(
            f"{what} {text} does not exist (a name ending in .onnx is a "
            "file, never a hub id)"
        )
    if not is_hub_id(source):
        raise FileNotFoundError(
            f"{what} {text} does not exist (a local path, so the hub was "
            "not asked; a hub id looks like 'owner/name' or "
            "'owner/name@revision')"
        )
    owner = text.split("/", 1)[0]
    if Path(owner).is_dir():
        raise FileNotFoundError(
            f"{what} {text} does not exist, but the local folder {owner}/ "
            "does, so this looks like a mistyped local path and the hub was "
            f"not asked; write {HUB_PREFIX}{text} to fetch it from the model "
            "hub"
        )
    return True


def resolve_source(
    source, what="model", allow_patterns=None, folder=True, revision=None
):
    """The local path of ``source``: itself, or its hub snapshot.

    A hub id is fetched with ``huggingface_hub.snapshot_download`` into
    its cache, or found there (also with ``HF_HUB_OFFLINE=1``), after the
    INFO line of :func:`announce_fetch`.

    Arguments
    ---------
    source : str or os.PathLike
        Local path, or hub id (``owner/name`` or ``owner/name@revision``,
        optionally after ``hf://``).
    what : str
        What the source holds, for the error messages.
    allow_patterns : list of str, optional
        The files to fetch from the hub (default: all).
    folder : bool
        Whether a local source must be a folder.
    revision : str, optional
        Branch, tag or commit hash of a hub id (default: its main branch).

    Returns
    -------
    pathlib.Path
        A local folder (or file, with ``folder=False``).

    Raises
    ------
    FileNotFoundError
        A local-looking path that does not exist, or a hub id that neither
        the hub nor its cache can provide (see :func:`hub_error`).
    ValueError
        A revision given for a local path.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> resolve_source(folder) == Path(folder)
    True
    """
    if not check_source(source, what, folder):
        if revision:
            raise ValueError(
                f"revision {revision!r} was given for {what} "
                f"{os.fspath(source)}, a local path: revisions are for hub "
                "ids"
            )
        return Path(os.fspath(source)).expanduser()
    repo_id, revision = split_revision(source, revision)
    from huggingface_hub import snapshot_download

    announce_fetch(repo_id, revision)
    try:
        snapshot = snapshot_download(
            repo_id=repo_id, revision=revision, allow_patterns=allow_patterns
        )
    except Exception as error:  # noqa: BLE001 - any hub failure means "no"
        raise hub_error(repo_id, revision, what, error) from None
    return Path(snapshot)


def find_hub_failure(error):
    """The ``huggingface_hub`` error behind ``error``, if there is one.

    Libraries that fetch through ``huggingface_hub`` (SpeechBrain) may wrap
    its errors; the chain of causes is followed.

    Arguments
    ---------
    error : BaseException
        An error raised while fetching a source.

    Returns
    -------
    BaseException or None
        ``error`` or one of its causes, raised by ``huggingface_hub``.

    Example
    -------
    >>> print(find_hub_failure(ValueError("bad YAML")))
    None
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if any(
            cls.__module__.startswith("huggingface_hub")
            for cls in type(error).__mro__
        ):
            return error
        error = error.__cause__ or error.__context__
    return None


def hub_error(repo_id, revision, what, error, cache_dir=None, offline=None):
    """The one error a failed hub fetch becomes: the id, revision and why.

    Arguments
    ---------
    repo_id : str
        ``owner/name``.
    revision : str or None
        The revision asked for (``None``: the main branch).
    what : str
        What the source holds, for the message.
    error : Exception
        What ``huggingface_hub`` raised.
    cache_dir : str, optional
        The cache that was searched (default: ``HF_HUB_CACHE``).
    offline : str, optional
        Why the hub was not asked, when it was not (default: "HF_HUB_OFFLINE
        is set" when it is).

    Returns
    -------
    FileNotFoundError
        To be raised by the caller.

    Example
    -------
    >>> error = hub_error("owner/name", "v2", "model", OSError("no network"))
    >>> print(error)  # doctest: +NORMALIZE_WHITESPACE
    model 'owner/name' at revision 'v2' is not a local folder and the model
    hub could not provide it: OSError: no network
    """
    from huggingface_hub import constants

    if offline is None and constants.HF_HUB_OFFLINE:
        offline = "HF_HUB_OFFLINE is set"
    where = f"{what} {repo_id!r}"
    if revision:
        where += f" at revision {revision!r}"
    reason = _failure_reason(
        repo_id, revision, error, cache_dir or constants.HF_HUB_CACHE, offline
    )
    return FileNotFoundError(
        f"{where} is not a local folder and the model hub could not provide "
        f"it: {reason}"
    )


def _failure_reason(repo_id, revision, error, cache, offline):
    """Why the hub could not provide ``repo_id``, in a user's words."""
    names = {cls.__name__ for cls in type(error).__mro__}
    first_line = (str(error).strip().splitlines() or [""])[0]
    if "RevisionNotFoundError" in names:
        return f"revision {revision!r} does not exist in that repository"
    if "GatedRepoError" in names:
        return (
            "the repository is gated: accept its conditions on the hub, "
            "then log in (hf auth login) or set HF_TOKEN"
        )
    if "RepositoryNotFoundError" in names:
        return (
            "no such repository on the hub (if it is private, log in with "
            "hf auth login or set HF_TOKEN)"
        )
    if "IncompleteSnapshotError" in names:
        return (
            "its cached copy lacks files and the hub cannot be reached: "
            f"{error}"
        )
    if "LocalEntryNotFoundError" in names or "OfflineModeIsEnabled" in names:
        if offline:
            return _offline_reason(
                repo_id, revision, cache, offline, first_line
            )
        return (
            f"the hub cannot be reached and it is not in the cache {cache} "
            f"({first_line})"
        )
    if "EntryNotFoundError" in names:
        return f"the repository lacks a file this needs ({first_line})"
    return f"{type(error).__name__}: {error}"


def _offline_reason(repo_id, revision, cache, offline, detail):
    """Why an offline fetch failed: what the cache holds of ``repo_id``."""
    storage = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    if not storage.is_dir():
        return (
            f"{offline} and it is not in the cache {cache} (download it "
            "once with the network, or point HF_HUB_CACHE or HF_HOME at a "
            "cache that holds it)"
        )
    wanted = revision or "main"
    refs = storage / "refs"
    cached = sorted(
        path.relative_to(refs).as_posix()
        for path in refs.rglob("*")
        if path.is_file()
    )
    snapshots = storage / "snapshots"
    commits = sorted(p.name for p in snapshots.glob("*") if p.is_dir())
    known = (refs / wanted).is_file() or (
        _COMMIT_HASH.match(wanted) and wanted in commits
    )
    if not known:
        return (
            f"{offline} and revision {wanted!r} is not in the cache {cache} "
            f"(cached refs: {', '.join(cached) or 'none'}; cached commits: "
            f"{', '.join(commits) or 'none'})"
        )
    return f"{offline} and the cached copy lacks a file this needs ({detail})"
