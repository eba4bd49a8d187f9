"""The pseudo-label cache: its files, its sidecar, its rows, its reader.

A cache is three files next to each other::

    LABELS.csv                ID,wav,duration,arousal,dominance,valence
    LABELS.csv.teacher.json   which teacher (fingerprint, name, source)
                              and at which precision it ran
    LABELS.errors.csv         ID,wav,reason   (files that could not be used)

and, once a run has started, ``LABELS.csv.lock``: a labelling run holds an
exclusive ``fcntl.flock`` on it from start to finish (:func:`cache_lock`),
so that a second run on the same cache is refused at once, naming the
first one's process id, instead of redoing the work beside it. The kernel
drops the lock when its process ends, even when killed, so a lock file
left behind never blocks a later run; it is never deleted, because a
deleted lock file could let two runs each lock a file of their own.

``wav`` is copied verbatim from the input (a manifest's ``$data_root``
placeholders included), ``duration`` is the decoded length in seconds at
16 kHz and the three labels come in :data:`DIMENSIONS` order, so the cache is
itself a SpeechBrain CSV manifest the distillation recipe reads directly.
Labels are float32 values whatever precision the teacher ran at; the
sidecar's ``precision`` (SpeechBrain's run-option names ``fp32``, ``bf16``,
``fp16``) says which, and a sidecar without it (written before the field
existed) means ``fp32``.

While a labelling run is under way, each process appends its rows to
journals under ``LABELS.csv.parts/``
(:mod:`speechbrain_wav2small.labelling.journal`). The sidecar is written
before the first label and marked complete once the journals are merged
into the final files, which are replaced atomically through
:mod:`speechbrain_wav2small.utils.durable`.

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib
import csv
import datetime
import fcntl
import json
import os
import shutil
import socket
from pathlib import Path

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.utils.durable import atomic_open, atomic_write
from speechbrain_wav2small.version import __version__

#: Columns of the label cache.
LABEL_COLUMNS = ("ID", "wav", "duration", *DIMENSIONS)
#: Columns of the errors file.
ERROR_COLUMNS = ("ID", "wav", "reason")
#: ``format`` entry of the sidecar, and its version.
CACHE_FORMAT = "speechbrain-wav2small label cache"
CACHE_VERSION = 1
#: Precision of a sidecar that does not record one (older caches).
DEFAULT_PRECISION = "fp32"

#: Columns of each CSV file of a cache, by its key in :func:`cache_paths`.
FILE_COLUMNS = {"labels": LABEL_COLUMNS, "errors": ERROR_COLUMNS}


class StaleCacheError(RuntimeError):
    """The label cache at ``--out`` was not made by the current teacher."""


class CacheLockedError(RuntimeError):
    """Another labelling run holds the cache (see :func:`cache_lock`)."""


class PrecisionMismatchError(StaleCacheError):
    """The cache was labelled by this teacher at another precision.

    Arguments
    ---------
    message : str
        What went wrong and what to do.
    recorded : str
        The precision the cache was labelled at.
    """

    def __init__(self, message, recorded):
        super().__init__(message)
        self.recorded = recorded


def cache_paths(out):
    """The files of the label cache ``out`` (see the module docstring).

    Example
    -------
    >>> paths = cache_paths("exp/labels.csv")
    >>> str(paths["sidecar"]), str(paths["errors"])
    ('exp/labels.csv.teacher.json', 'exp/labels.errors.csv')
    >>> str(paths["parts"]), str(paths["lock"])
    ('exp/labels.csv.parts', 'exp/labels.csv.lock')
    """
    labels = Path(out)
    stem = labels.name[:-4] if labels.name.endswith(".csv") else labels.name
    return {
        "labels": labels,
        "sidecar": labels.with_name(labels.name + ".teacher.json"),
        "errors": labels.with_name(stem + ".errors.csv"),
        "parts": labels.with_name(labels.name + ".parts"),
        "lock": labels.with_name(labels.name + ".lock"),
    }


# --------------------------------------------------------------------------
# The lock

#: Lock files this process holds: real path -> [file descriptor, depth].
_HELD_LOCKS = {}


@contextlib.contextmanager
def cache_lock(out):
    """Holds the exclusive lock of the label cache ``out`` while in use.

    The lock is an ``fcntl.flock`` on ``LABELS.csv.lock`` (see the module
    docstring), taken without waiting: another run that holds it makes
    this one fail at once. The file records the holder's process id, host
    and start time, for the message. Re-entrant within a process (the
    command line takes it before loading a teacher, the labeller again),
    and taken by one process only: under ``torchrun`` rank 0 holds it for
    the whole job, the other ranks never touch it.

    Arguments
    ---------
    out : str or os.PathLike
        The cache CSV (``LABELS.csv``); its folder is created if needed.

    Raises
    ------
    CacheLockedError
        Another process holds the lock.

    Example
    -------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "labels.csv"
    >>> with cache_lock(out), cache_lock(out):
    ...     json.loads(cache_paths(out)["lock"].read_text())["pid"] > 0
    True
    """
    path = cache_paths(out)["lock"]
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(path)
    if key in _HELD_LOCKS:
        _HELD_LOCKS[key][1] += 1
        try:
            yield
        finally:
            _HELD_LOCKS[key][1] -= 1
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(descriptor)
        os.close(descriptor)
        raise CacheLockedError(
            f"{cache_paths(out)['labels']} is being labelled by another run "
            f"({holder}; lock file {path}). Two runs on one cache would "
            "both do all the work: wait for that one to finish (run this "
            "again then to label what it left), or choose another --out."
        ) from None
    except BaseException:
        os.close(descriptor)
        raise
    try:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _now(),
        }
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(holder) + "\n").encode(), 0)
        _HELD_LOCKS[key] = [descriptor, 1]
        yield
    finally:
        _HELD_LOCKS.pop(key, None)
        # Closing the descriptor releases the lock.
        os.close(descriptor)


def _lock_holder(descriptor):
    """Who holds a lock, in words, from what its lock file records."""
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0).decode())
        return (
            f"pid {holder['pid']} on {holder['host']}, running since "
            f"{holder['since']}"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "its pid not recorded yet"


# --------------------------------------------------------------------------
# The sidecar


def build_sidecar(teacher, fingerprint, precision=DEFAULT_PRECISION):
    """The sidecar of a cache that ``teacher`` starts labelling.

    It says ``complete: false`` until :func:`complete_sidecar` says that
    the final files hold every row of the run.

    Arguments
    ---------
    teacher : torch.nn.Module
        The teacher (its ``name``, ``source`` and ``max_window_seconds``
        are recorded when it has them).
    fingerprint : str
        Its :func:`~speechbrain_wav2small.teachers.teacher_fingerprint`.
    precision : str
        The precision the teacher runs at: ``"fp32"``, ``"bf16"`` or
        ``"fp16"``.

    Example
    -------
    >>> import torch
    >>> sidecar = build_sidecar(torch.nn.Identity(), "sha256:0")
    >>> sidecar["format"], sidecar["teacher"]["name"], sidecar["complete"]
    ('speechbrain-wav2small label cache', 'Identity', False)
    >>> sidecar["precision"]
    'fp32'
    """
    return {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "fingerprint": fingerprint,
        "precision": precision,
        "teacher": {
            "name": getattr(teacher, "name", type(teacher).__name__),
            "source": getattr(teacher, "source", None),
            "class": type(teacher).__name__,
            "max_window_seconds": getattr(teacher, "max_window_seconds", None),
        },
        "sample_rate": SAMPLE_RATE,
        "dimensions": list(DIMENSIONS),
        "columns": list(LABEL_COLUMNS),
        "complete": False,
        "updated": _now(),
        "speechbrain_wav2small": __version__,
    }


def sidecar_precision(sidecar):
    """The precision a cache was labelled at (``"fp32"`` if unrecorded).

    Arguments
    ---------
    sidecar : dict
        A sidecar's content.

    Returns
    -------
    str
        ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    Example
    -------
    >>> sidecar_precision({"precision": "bf16"}), sidecar_precision({})
    ('bf16', 'fp32')
    """
    return sidecar.get("precision") or DEFAULT_PRECISION


def _now():
    """The current UTC time, to the second, in ISO 8601."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )


def _write_sidecar(paths, sidecar):
    """Replaces the sidecar of the cache at ``paths`` durably."""
    atomic_write(paths["sidecar"], json.dumps(sidecar, indent=2) + "\n")


def complete_sidecar(paths, sidecar, n_labels, n_errors):
    """Rewrites the sidecar once the final files hold every journal row.

    Example
    -------
    >>> import tempfile, torch
    >>> paths = cache_paths(Path(tempfile.mkdtemp()) / "labels.csv")
    >>> complete_sidecar(paths, build_sidecar(torch.nn.Identity(), "a"), 2, 0)
    >>> content = json.loads(paths["sidecar"].read_text())
    >>> content["complete"], content["n_labels"], content["n_errors"]
    (True, 2, 0)
    """
    finished = dict(sidecar, complete=True, updated=_now())
    finished.update(n_labels=n_labels, n_errors=n_errors)
    _write_sidecar(paths, finished)


def _load_sidecar(paths):
    """The sidecar's content (raises for a missing or corrupt file)."""
    with open(paths["sidecar"], encoding="utf-8") as stream:
        return json.load(stream)


def start_cache(paths, sidecar, overwrite=False):
    """Refuses another teacher's or precision's cache; writes the sidecar.

    Arguments
    ---------
    paths : dict
        From :func:`cache_paths`.
    sidecar : dict
        From :func:`build_sidecar`.
    overwrite : bool
        Delete whatever cache (of any teacher) is there.

    Raises
    ------
    StaleCacheError
        The cache holds labels of another teacher, or of an unknown one
        (files without a sidecar), or of the same teacher run at another
        precision.

    Example
    -------
    >>> import tempfile, torch
    >>> paths = cache_paths(Path(tempfile.mkdtemp()) / "labels.csv")
    >>> start_cache(paths, build_sidecar(torch.nn.Identity(), "sha256:a"))
    >>> start_cache(paths, build_sidecar(torch.nn.Identity(), "sha256:b"))
    Traceback (most recent call last):
     ...
    speechbrain_wav2small.labelling.cache.StaleCacheError: ...
    >>> start_cache(paths, build_sidecar(torch.nn.Identity(), "sha256:a",
    ...                                  precision="bf16"))
    Traceback (most recent call last):
     ...
    speechbrain_wav2small.labelling.cache.PrecisionMismatchError: ... at fp32 ...
    """
    fingerprint = sidecar["fingerprint"]
    leftovers = [
        paths[key]
        for key in ("labels", "errors", "parts", "sidecar")
        if paths[key].exists()
    ]
    if overwrite:
        for path in leftovers:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    elif paths["sidecar"].exists():
        try:
            previous = _load_sidecar(paths)
        except json.JSONDecodeError:
            previous = {}
        if previous.get("fingerprint") != fingerprint:
            name = previous.get("teacher", {}).get("name", "unknown")
            raise StaleCacheError(
                f"{paths['labels']} holds labels of another teacher "
                f"({name}, {previous.get('fingerprint')}); the current "
                f"teacher is {fingerprint}. Labels of two teachers are "
                "never mixed: choose another --out, or pass --overwrite "
                "to delete this cache and label everything again."
            )
        before, now = sidecar_precision(previous), sidecar_precision(sidecar)
        if before != now:
            raise PrecisionMismatchError(
                f"{paths['labels']} holds labels of this teacher computed "
                f"at {before} precision; this run is at {now}. Labels of "
                "two precisions are never mixed: pass --precision "
                f"{before} to finish it, choose another --out, or pass "
                "--overwrite to delete this cache and label everything "
                "again.",
                recorded=before,
            )
    elif leftovers:
        raise StaleCacheError(
            f"{paths['labels']} (or its journals) exists without the "
            f"sidecar {paths['sidecar'].name}, so which teacher made it "
            "is unknown. Choose another --out, or pass --overwrite to "
            "replace it."
        )
    paths["labels"].parent.mkdir(parents=True, exist_ok=True)
    paths["parts"].mkdir(exist_ok=True)
    _write_sidecar(paths, sidecar)


# --------------------------------------------------------------------------
# Rows


def read_rows(path, columns):
    """Rows of a cache CSV or journal as dicts, checked field by field.

    Arguments
    ---------
    path : str or os.PathLike
        The CSV file.
    columns : tuple of str
        Its expected header: :data:`LABEL_COLUMNS` (then the duration and
        the labels must be numbers) or :data:`ERROR_COLUMNS`.

    Returns
    -------
    list of dict

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = path.write_text("ID,wav,duration,arousal,dominance,valence\\n"
    ...                     "a,a.wav,2.0,0.1,0.2,zero\\n")
    >>> read_rows(path, LABEL_COLUMNS)
    Traceback (most recent call last):
     ...
    ValueError: could not convert string to float: 'zero'
    """
    rows = []
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            return rows
        if tuple(header) != tuple(columns):
            raise ValueError(
                f"{path}: unexpected header {header}, expected {columns}"
            )
        for line, values in enumerate(reader, start=2):
            if len(values) != len(columns):
                raise ValueError(
                    f"{path}:{line}: {len(values)} fields, expected "
                    f"{len(columns)}"
                )
            rows.append(dict(zip(columns, values, strict=True)))
    if columns == LABEL_COLUMNS:
        for row in rows:
            for name in ("duration", *DIMENSIONS):
                float(row[name])  # a corrupt value must not pass silently
    return rows


def write_rows(path, columns, rows):
    """Writes a CSV of ``rows`` (dicts) durably, in ``columns`` order.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "errors.csv"
    >>> write_rows(path, ERROR_COLUMNS, [{"ID": "a", "wav": "a.wav",
    ...     "reason": "empty, or no samples"}])
    >>> path.read_text().splitlines()[1]
    'a,a.wav,"empty, or no samples"'
    """
    with atomic_open(path, "w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)


# --------------------------------------------------------------------------
# Reading a cache


def read_label_rows(out, fingerprint=None, require_complete=True):
    """The sidecar and the rows (dicts of strings) of a label cache.

    Arguments
    ---------
    out : str or os.PathLike
        The cache CSV (``LABELS.csv``).
    fingerprint : str, optional
        Refuse the cache unless its teacher has this fingerprint.
    require_complete : bool
        Refuse a cache whose last labelling run did not finish.

    Returns
    -------
    tuple
        ``(sidecar, rows)``, rows keyed by :data:`LABEL_COLUMNS`.

    Raises
    ------
    FileNotFoundError
        The CSV or its sidecar is missing.
    StaleCacheError
        The cache was labelled by another teacher.
    ValueError
        The cache is incomplete, or a row is malformed.

    Example
    -------
    >>> read_label_rows("nowhere/labels.csv")
    Traceback (most recent call last):
     ...
    FileNotFoundError: label cache file nowhere/labels.csv is missing
    """
    paths = cache_paths(out)
    for key in ("labels", "sidecar"):
        if not paths[key].is_file():
            raise FileNotFoundError(f"label cache file {paths[key]} is missing")
    sidecar = _load_sidecar(paths)
    if fingerprint is not None and sidecar.get("fingerprint") != fingerprint:
        raise StaleCacheError(
            f"{paths['labels']} was labelled by teacher "
            f"{sidecar.get('fingerprint')}, not {fingerprint}"
        )
    if require_complete and not sidecar.get("complete"):
        raise ValueError(
            f"{paths['labels']} is incomplete: its labelling run did not "
            "finish; run `wav2small label` again with the same --out"
        )
    return sidecar, read_rows(paths["labels"], LABEL_COLUMNS)


def read_label_cache(out, fingerprint=None, require_complete=True):
    """Reads a label cache made by the labeller.

    Arguments and checks as for :func:`read_label_rows`.

    Returns
    -------
    dict
        ``{"teacher": <sidecar dict>, "labels": {ID: {"wav", "duration",
        "labels": [arousal, dominance, valence]}}}``.

    Example
    -------
    >>> import tempfile, torch
    >>> paths = cache_paths(Path(tempfile.mkdtemp()) / "labels.csv")
    >>> row = dict(zip(LABEL_COLUMNS, ("a", "a.wav", "2", ".25", ".5", ".75")))
    >>> write_rows(paths["labels"], LABEL_COLUMNS, [row])
    >>> sidecar = build_sidecar(torch.nn.Identity(), "sha256:a")
    >>> complete_sidecar(paths, sidecar, n_labels=1, n_errors=0)
    >>> read_label_cache(paths["labels"], "sha256:a")["labels"]["a"]
    {'wav': 'a.wav', 'duration': 2.0, 'labels': [0.25, 0.5, 0.75]}
    """
    sidecar, rows = read_label_rows(out, fingerprint, require_complete)
    labels = {}
    for row in rows:
        labels[row["ID"]] = {
            "wav": row["wav"],
            "duration": float(row["duration"]),
            "labels": [float(row[name]) for name in DIMENSIONS],
        }
    return {"teacher": sidecar, "labels": labels}
