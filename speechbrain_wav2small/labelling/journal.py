"""The journals of a labelling run, and their merge into the cache.

Each process appends its label and error rows to its own journals under
``LABELS.csv.parts/`` (see :func:`~speechbrain_wav2small.labelling.cache.
cache_paths`), flushed and fsynced after every batch, so that a run killed
at any point loses at most the batch under way. A killed writer may leave
an unfinished last line: it is dropped before the journals are read.

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv
import logging
import shutil
from pathlib import Path

from speechbrain_wav2small.labelling.cache import (
    ERROR_COLUMNS,
    FILE_COLUMNS,
    LABEL_COLUMNS,
    complete_sidecar,
    read_rows,
    write_rows,
)
from speechbrain_wav2small.utils.durable import fsync_folder, fsync_stream

logger = logging.getLogger(__name__)


class Journal:
    """Append-only CSV, flushed and fsynced after every batch of rows.

    Arguments
    ---------
    path : str or os.PathLike
        The journal; its header is written when it is new or empty.
    columns : tuple of str
        :data:`LABEL_COLUMNS` or :data:`ERROR_COLUMNS`.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "rank0.errors.csv"
    >>> with Journal(path, ERROR_COLUMNS) as journal:
    ...     journal.append([("a", "/a.wav", "empty")])
    >>> path.read_text()
    'ID,wav,reason\\na,/a.wav,empty\\n'
    """

    def __init__(self, path, columns):
        self.path = Path(path)
        self.columns = columns
        self.stream = None
        self.writer = None

    def __enter__(self):
        """Opens the journal for appending (a new one gets its header)."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.stream = open(self.path, "a", encoding="utf-8", newline="")
        self.writer = csv.writer(self.stream, lineterminator="\n")
        if new:
            self.writer.writerow(self.columns)
            fsync_stream(self.stream)
            fsync_folder(self.path.parent)
        return self

    def append(self, rows):
        """Appends ``rows`` (sequences in column order) and syncs them."""
        if rows:
            self.writer.writerows(rows)
            fsync_stream(self.stream)

    def __exit__(self, *exc):
        """Closes the journal."""
        self.stream.close()


def open_journal(paths, rank, kind):
    """The ``kind`` (``"labels"`` or ``"errors"``) journal of ``rank``.

    Example
    -------
    >>> from speechbrain_wav2small.labelling.cache import cache_paths
    >>> open_journal(cache_paths("exp/l.csv"), 1, "errors").path.name
    'rank1.errors.csv'
    """
    path = paths["parts"] / f"rank{rank}.{kind}.csv"
    return Journal(path, FILE_COLUMNS[kind])


def _journals(paths, kind):
    """Every rank's ``kind`` journal, sorted by name."""
    if not paths["parts"].is_dir():
        return []
    return sorted(paths["parts"].glob(f"rank*.{kind}.csv"))


def _repair_torn_line(path):
    """Drops the unfinished last line a killed writer may have left."""
    with open(path, "rb+") as stream:
        data = stream.read()
        if data and not data.endswith(b"\n"):
            stream.truncate(data.rfind(b"\n") + 1)
            logger.info("%s: dropped an unfinished last line", path)


def _all_rows(paths, kind):
    """Rows of the final ``kind`` file, then of every journal."""
    final = paths[kind]
    rows = []
    for path in [final, *_journals(paths, kind)]:
        if path.is_file():
            rows.extend(read_rows(path, FILE_COLUMNS[kind]))
    return rows


def done_ids(paths):
    """IDs already labelled or listed as errors, in the cache or journals.

    Unfinished last lines of the journals are dropped first.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_wav2small.labelling.cache import cache_paths
    >>> paths = cache_paths(Path(tempfile.mkdtemp()) / "labels.csv")
    >>> paths["parts"].mkdir()
    >>> with open_journal(paths, 0, "errors") as journal:
    ...     journal.append([("a", "/a.wav", "empty")])
    >>> _ = open(paths["parts"] / "rank0.errors.csv", "a").write("b,/b.w")
    >>> done_ids(paths)
    {'a'}
    """
    for kind in FILE_COLUMNS:
        for path in _journals(paths, kind):
            _repair_torn_line(path)
    return {
        row["ID"] for kind in FILE_COLUMNS for row in _all_rows(paths, kind)
    }


def finish_cache(paths, ids, sidecar):
    """Journals + previous cache -> final files in ``ids`` order; then the
    sidecar says the cache is complete.

    Rows of clips not in ``ids`` are kept, after the rest: nothing
    labelled earlier is thrown away. A clip labelled now leaves the errors.
    The cache is only marked complete when every clip of ``ids`` has a
    row, in the labels or in the errors: a clip that was skipped without
    either leaves it incomplete, and this raises.

    Raises
    ------
    ValueError
        Clips of ``ids`` have no row (the final files are written, the
        sidecar still says ``complete: false``).

    Arguments
    ---------
    paths : dict
        From :func:`~speechbrain_wav2small.labelling.cache.cache_paths`.
    ids : list of str
        The clip IDs of the run, in input order.
    sidecar : dict
        The sidecar written by
        :func:`~speechbrain_wav2small.labelling.cache.start_cache`.

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain_wav2small.labelling.cache import (
    ...     build_sidecar, cache_paths, read_label_rows, start_cache)
    >>> paths = cache_paths(Path(tempfile.mkdtemp()) / "labels.csv")
    >>> sidecar = build_sidecar(torch.nn.Identity(), "sha256:a")
    >>> start_cache(paths, sidecar)
    >>> with open_journal(paths, 0, "labels") as journal:
    ...     journal.append([("b", "b.wav", "1.0", "0.1", "0.2", "0.3"),
    ...                     ("a", "a.wav", "2.0", "0.4", "0.5", "0.6")])
    >>> finish_cache(paths, ["a", "b"], sidecar)
    >>> [row["ID"] for row in read_label_rows(paths["labels"])[1]]
    ['a', 'b']
    >>> paths["parts"].exists()
    False
    """
    position = {clip_id: i for i, clip_id in enumerate(ids)}

    def collect(kind):
        """One row per ID (the first seen), in ``ids`` order."""
        rows = {}
        for row in _all_rows(paths, kind):
            rows.setdefault(row["ID"], row)
        return sorted(
            rows.values(), key=lambda r: position.get(r["ID"], len(position))
        )

    labels = collect("labels")
    labelled_ids = {row["ID"] for row in labels}
    errors = [row for row in collect("errors") if row["ID"] not in labelled_ids]
    write_rows(paths["labels"], LABEL_COLUMNS, labels)
    write_rows(paths["errors"], ERROR_COLUMNS, errors)
    # Only once the final files hold every journal row.
    shutil.rmtree(paths["parts"], ignore_errors=True)
    accounted = labelled_ids | {row["ID"] for row in errors}
    missing = [clip_id for clip_id in ids if clip_id not in accounted]
    if missing:
        raise ValueError(
            f"{paths['labels']}: {len(missing)} clip(s) of this run have "
            f"neither a label nor an error row (first: {missing[:3]}); the "
            "cache stays incomplete. Run the same command again to label "
            "them."
        )
    complete_sidecar(paths, sidecar, len(labels), len(errors))
