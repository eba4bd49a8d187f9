"""Durable writes: a file is either the old one or the complete new one.

Every writer of user data (exports, packages, label caches and journals,
manifests, reports, ``results.json``, history files) goes through here. A
new file is written to a hidden temporary file in the same folder (so the
final rename stays on one file system and is atomic), flushed and fsynced,
moved into place with ``os.replace``, and the folder is fsynced so that the
rename itself survives a power cut.

Written here because no maintained library in our stack does this (the
``atomicwrites`` package is archived, and neither the standard library nor
SpeechBrain fsyncs the folder after the rename).

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib
import csv
import os
import shutil
import tempfile
from pathlib import Path


def fsync_folder(folder):
    """Makes the entries of ``folder`` (new names, renames) durable.

    Platforms and file systems that cannot open or fsync a folder are
    skipped silently.

    Arguments
    ---------
    folder : str or os.PathLike
        The folder whose entries changed.

    Example
    -------
    >>> import tempfile
    >>> fsync_folder(tempfile.gettempdir())
    """
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # file systems or platforms that cannot open a folder
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems refuse fsync on a folder
    finally:
        os.close(descriptor)


def fsync_stream(stream):
    """Flushes ``stream`` and forces its bytes to the disk.

    Arguments
    ---------
    stream : io.IOBase
        An open file with a ``fileno()``.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryFile("w") as stream:
    ...     _ = stream.write("data")
    ...     fsync_stream(stream)
    """
    stream.flush()
    os.fsync(stream.fileno())


def _default_permissions():
    """The mode a plain ``open`` would give a new file (``mkstemp`` makes
    owner-only files)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temporary_file(path):
    """A hidden temporary file beside ``path``: (descriptor, name)."""
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    os.chmod(name, _default_permissions())
    return handle, name


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding="utf-8", newline=None):
    """Opens a temporary file that replaces ``path`` when the block ends.

    If the block raises, ``path`` keeps its old content (or stays absent)
    and the temporary file is removed.

    Arguments
    ---------
    path : str or os.PathLike
        The file to (re)place. Its folder is created if needed.
    mode : str
        ``"w"`` (text) or ``"wb"`` (bytes).
    encoding : str
        Text encoding (text mode only).
    newline : str, optional
        As for :func:`open` (``""`` for the ``csv`` module).

    Example
    -------
    >>> import json, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with atomic_open(os.path.join(folder, "results.json")) as stream:
    ...     json.dump({"ccc": 0.5}, stream)
    >>> os.listdir(folder)
    ['results.json']
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = _temporary_file(path)
    text = {"encoding": encoding, "newline": newline} if mode == "w" else {}
    try:
        with os.fdopen(handle, mode, **text) as stream:
            yield stream
            fsync_stream(stream)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    fsync_folder(path.parent)


def atomic_write(path, data):
    """Writes ``data`` to ``path`` durably (see :func:`atomic_open`).

    Arguments
    ---------
    path : str or os.PathLike
        The file to (re)place.
    data : str or bytes
        The whole content: text (UTF-8) or bytes.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> atomic_write(path, "done\\n")
    >>> open(path).read()
    'done\\n'
    """
    mode = "wb" if isinstance(data, (bytes, bytearray)) else "w"
    with atomic_open(path, mode) as stream:
        stream.write(data)


def atomic_write_csv(path, columns, rows):
    """Writes ``rows`` (dicts) as a CSV file with a header, durably.

    Arguments
    ---------
    path : str or os.PathLike
        The CSV file to (re)place.
    columns : sequence of str
        The header, in order; a row may lack some of these keys (the cell
        stays empty) but have no other.
    rows : iterable of dict
        One dict per line.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> atomic_write_csv(path, ["ID", "wav"], [{"ID": "a", "wav": "a.wav"}])
    >>> open(path).read().splitlines()
    ['ID,wav', 'a,a.wav']
    """
    with atomic_open(path, newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def atomic_write_files(contents):
    """Writes several files, all or none (as far as the file system allows).

    Each file is first written in full to a temporary file beside it; files
    already there are moved aside and restored if anything fails before the
    last one is in place.

    Arguments
    ---------
    contents : dict
        Path -> ``bytes`` or ``str``.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> atomic_write_files({folder / "a.bin": b"1", folder / "b.txt": "2"})
    >>> sorted(os.listdir(folder))
    ['a.bin', 'b.txt']
    """
    temporary, backups, placed = {}, {}, []
    try:
        for path, data in contents.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = _temporary_file(path)
            temporary[path] = name
            mode = "wb" if isinstance(data, (bytes, bytearray)) else "w"
            with os.fdopen(handle, mode) as stream:
                stream.write(data)
                fsync_stream(stream)
        for path, name in temporary.items():
            if path.exists():
                backups[path] = f"{name}.previous"
                os.replace(path, backups[path])
            os.replace(name, path)
            placed.append(path)
    except BaseException:
        for path in placed:
            with contextlib.suppress(OSError):
                os.remove(path)
        for path, backup in backups.items():
            with contextlib.suppress(OSError):
                os.replace(backup, path)
        for name in temporary.values():
            with contextlib.suppress(OSError):
                os.remove(name)
        raise
    for folder in {path.parent for path in placed}:
        fsync_folder(folder)
    for backup in backups.values():
        with contextlib.suppress(OSError):
            os.remove(backup)


def append_line(path, line):
    """Appends one line of text to ``path`` and forces it to the disk.

    For logs read back line by line (training histories): a crash loses at
    most the line being written, never an earlier one.

    Arguments
    ---------
    path : str or os.PathLike
        The file; created when absent.
    line : str
        The text; a trailing newline is added if missing.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "history.jsonl")
    >>> append_line(path, '{"epoch": 1}')
    >>> open(path).read()
    '{"epoch": 1}\\n'
    """
    path = Path(path)
    created = not path.exists()
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line.rstrip("\n") + "\n")
        fsync_stream(stream)
    if created:
        fsync_folder(path.parent)


def replace_folder(staging, target):
    """Moves the complete folder ``staging`` to ``target``.

    An existing ``target`` is moved aside first and deleted only once the
    new folder is in place; if the move fails it comes back. ``staging``
    must be on the same file system (make it beside ``target``).

    Arguments
    ---------
    staging : str or os.PathLike
        The complete new folder.
    target : str or os.PathLike
        Where it goes; an existing folder (or file) there is replaced.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / ".staging").mkdir()
    >>> replace_folder(root / ".staging", root / "package")
    >>> sorted(os.listdir(root))
    ['package']
    """
    staging, target = Path(staging), Path(target)
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.previous-{os.getpid()}")
        os.replace(target, backup)
    try:
        os.replace(staging, target)
    except BaseException:
        if backup is not None:
            os.replace(backup, target)
        raise
    fsync_folder(target.parent)
    if backup is not None:
        if backup.is_dir():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(backup)
