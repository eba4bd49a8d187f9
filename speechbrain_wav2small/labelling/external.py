"""Bring your own teacher: label caches from a CSV of another model's output.

Any model's arousal, dominance and valence predictions can be distilled:
they come as a CSV with one row per file (or per window of a file)::

    path,arousal,dominance,valence[,start,end]     or
    ID,arousal,dominance,valence[,start,end]

``path`` matches a manifest's ``wav`` (resolved to an absolute path, or
else by file name when that name is unique in the CSV); ``ID`` matches the
manifest's ``ID``. Rows with ``start``/``end`` (seconds) are windows of a
file: a file's label is the mean of its windows weighted by their length.
Labels are on the 0..1 scale of the recipes.

:func:`read_teacher_labels` validates the table (columns, finite values,
no duplicate rows, the range) and gives it a fingerprint: the sha256 of
the normalised table (sorted rows, values rounded to float32 precision),
so reordering rows or columns keeps it while any changed value changes it.
:func:`write_external_caches` writes ordinary label caches with that
fingerprint in the sidecar, where a teacher's fingerprint goes; a cache
made from another CSV (or by a teacher model) is refused with
:class:`~speechbrain_wav2small.labelling.cache.StaleCacheError`, never
mixed.

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv
import hashlib
import logging
import math
import os
from pathlib import Path

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.labelling.cache import (
    CACHE_FORMAT,
    CACHE_VERSION,
    LABEL_COLUMNS,
    _now,
    cache_paths,
    complete_sidecar,
    start_cache,
    write_rows,
)
from speechbrain_wav2small.version import __version__

logger = logging.getLogger(__name__)

#: Prefix of the fingerprint of a CSV of teacher labels.
FINGERPRINT_PREFIX = "labels-sha256:"
#: Values outside this interval are refused: another scale (1..7, -1..1),
#: not the recipes' 0..1.
REFUSED_RANGE = (-0.5, 1.5)
#: Values outside 0..1 but inside :data:`REFUSED_RANGE` are kept, with a
#: warning giving their count and extremes.
NOMINAL_RANGE = (0.0, 1.0)


class TeacherLabelsError(ValueError):
    """A CSV of teacher labels is unusable (the message names file and row)."""


def _number(text, path, line, column):
    """A finite float from a CSV field, or a clear error."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise TeacherLabelsError(
            f"{path}: row {line}: {column} is {text!r}, not a number"
        ) from None
    if not math.isfinite(value):
        raise TeacherLabelsError(
            f"{path}: row {line}: {column} is {text!r}, not a finite number"
        )
    return value


def read_teacher_labels(path):
    """Reads and validates a CSV of teacher labels.

    Arguments
    ---------
    path : str or os.PathLike
        The CSV (see the module docstring).

    Returns
    -------
    dict
        ``{"key": "path" or "ID", "labels": {key: [arousal, dominance,
        valence]}, "fingerprint": str, "rows": int, "path": str}``; keys
        with windows are merged (length-weighted mean).

    Raises
    ------
    TeacherLabelsError
        Missing file or column, a value that is not a finite number, a
        window with ``end <= start``, a duplicate row, or values far
        outside 0..1.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = path.write_text("ID,arousal,dominance,valence\\n"
    ...                     "a,0.25,0.5,0.75\\nb,0.5,0.5,0.5\\n")
    >>> table = read_teacher_labels(path)
    >>> table["key"], table["labels"]["a"], table["fingerprint"][:14]
    ('ID', [0.25, 0.5, 0.75], 'labels-sha256:')
    >>> _ = path.write_text("ID,arousal,dominance,valence\\na,0.2,x,0.3\\n")
    >>> read_teacher_labels(path)
    Traceback (most recent call last):
     ...
    speechbrain_wav2small.labelling.external.TeacherLabelsError: ... row 2: dominance is 'x', not a number
    """
    path = Path(path)
    if not path.is_file():
        raise TeacherLabelsError(f"teacher labels file {path} is missing")
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        keys = [name for name in ("path", "ID") if name in header]
        if len(keys) != 1:
            raise TeacherLabelsError(
                f"{path}: header {header} needs exactly one key column, "
                "'path' (audio file) or 'ID' (manifest ID)"
            )
        missing = [name for name in DIMENSIONS if name not in header]
        if missing:
            raise TeacherLabelsError(
                f"{path}: header {header} lacks the column(s) {missing}"
            )
        windowed = "start" in header or "end" in header
        if windowed and not ("start" in header and "end" in header):
            raise TeacherLabelsError(
                f"{path}: windows need both 'start' and 'end' columns"
            )
        key_column = keys[0]
        seen, windows, out_of_range = {}, {}, []
        for line, row in enumerate(reader, start=2):
            key = (row.get(key_column) or "").strip()
            if not key:
                raise TeacherLabelsError(
                    f"{path}: row {line}: empty {key_column}"
                )
            if key_column == "path":
                key = str(Path(os.path.expanduser(key)))
            values = [
                _number(row.get(name), path, line, name) for name in DIMENSIONS
            ]
            start, end = 0.0, 1.0
            if windowed:
                start = _number(row.get("start"), path, line, "start")
                end = _number(row.get("end"), path, line, "end")
                if end <= start or start < 0:
                    raise TeacherLabelsError(
                        f"{path}: row {line}: window start={start:g} "
                        f"end={end:g} is empty or negative"
                    )
            window = (key, start, end)
            if window in seen:
                raise TeacherLabelsError(
                    f"{path}: row {line}: duplicate of row {seen[window]} "
                    f"({key_column} {key}"
                    + (f", window {start:g}-{end:g}" if windowed else "")
                    + ")"
                )
            seen[window] = line
            for name, value in zip(DIMENSIONS, values, strict=True):
                if not REFUSED_RANGE[0] <= value <= REFUSED_RANGE[1]:
                    raise TeacherLabelsError(
                        f"{path}: row {line}: {name} = {value:g} is far "
                        "outside the 0..1 scale of the recipes (accepted: "
                        f"{REFUSED_RANGE[0]:g}..{REFUSED_RANGE[1]:g}); "
                        "rescale the predictions to 0..1 (e.g. (x - 1) / 6 "
                        "for 1..7 ratings, (x + 1) / 2 for -1..1)"
                    )
                if not NOMINAL_RANGE[0] <= value <= NOMINAL_RANGE[1]:
                    out_of_range.append(value)
            windows.setdefault(key, []).append((start, end, values))
    if not windows:
        raise TeacherLabelsError(f"{path}: no rows of labels")
    if out_of_range:
        logger.warning(
            "%s: %d value(s) outside 0..1 (min %.3f, max %.3f); kept as they "
            "are",
            path,
            len(out_of_range),
            min(out_of_range),
            max(out_of_range),
        )
    labels = {}
    for key, entries in windows.items():
        total = sum(end - start for start, end, _ in entries)
        labels[key] = [
            sum((end - start) * values[i] for start, end, values in entries)
            / total
            for i in range(len(DIMENSIONS))
        ]
    return {
        "key": key_column,
        "labels": labels,
        "fingerprint": _fingerprint(key_column, windows),
        "rows": len(seen),
        "path": str(path),
    }


def _fingerprint(key_column, windows):
    """sha256 of the normalised table (order and formatting ignored)."""
    digest = hashlib.sha256(key_column.encode())
    for key in sorted(windows):
        for start, end, values in sorted(windows[key]):
            # Float32 precision (as in the caches): "0.5" and "0.50" agree.
            fields = [key, *(f"{v:.7g}" for v in (start, end, *values))]
            digest.update(("\x1f".join(fields) + "\n").encode())
    return FINGERPRINT_PREFIX + digest.hexdigest()


def _lookup(table, row, by_name):
    """The labels of one manifest row, or ``None`` when the CSV lacks it."""
    if table["key"] == "ID":
        return table["labels"].get(row["ID"])
    wav = row["wav"]
    found = table["labels"].get(str(Path(wav)))
    if found is None:
        found = table["labels"].get(os.path.abspath(wav))
    if found is None:
        found = by_name.get(Path(wav).name)
    return found


def write_external_caches(table, manifests, label_paths, required=()):
    """Writes label caches for manifests from a table of teacher labels.

    Arguments
    ---------
    table : dict
        From :func:`read_teacher_labels`.
    manifests : dict
        Split name -> SpeechBrain CSV manifest (``ID``, ``wav``,
        ``duration``).
    label_paths : dict
        Split name -> label cache to write.
    required : iterable of str
        Splits whose every file must be in the table (the training split);
        the others keep what the table has and leave the rest out.

    Returns
    -------
    dict
        Split name -> number of labelled utterances.

    Raises
    ------
    TeacherLabelsError
        A required split has files the table lacks.
    StaleCacheError
        A cache at a label path was made from another CSV or a teacher.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "m.csv").write_text(
    ...     "ID,wav,duration\\na,/x/a.wav,1.0\\nb,/x/b.wav,2.0\\n")
    >>> _ = (folder / "t.csv").write_text(
    ...     "path,arousal,dominance,valence\\na.wav,.1,.2,.3\\nb.wav,.4,.5,.6\\n")
    >>> table = read_teacher_labels(folder / "t.csv")
    >>> write_external_caches(table, {"Train": folder / "m.csv"},
    ...                       {"Train": folder / "Train.csv"}, ["Train"])
    {'Train': 2}
    """
    by_name = {}
    if table["key"] == "path":
        names = {}
        for key, labels in table["labels"].items():
            names.setdefault(Path(key).name, []).append(labels)
        by_name = {n: v[0] for n, v in names.items() if len(v) == 1}
    counts = {}
    for split, manifest in manifests.items():
        with open(manifest, newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        out_rows, missing = [], []
        for row in rows:
            labels = _lookup(table, row, by_name)
            if labels is None:
                missing.append(
                    row["ID"] if table["key"] == "ID" else row["wav"]
                )
                continue
            out_rows.append(
                {
                    "ID": row["ID"],
                    "wav": row["wav"],
                    "duration": row["duration"],
                    **{
                        name: f"{value:.7g}"
                        for name, value in zip(DIMENSIONS, labels, strict=True)
                    },
                }
            )
        if missing and split in required:
            raise TeacherLabelsError(
                f"{table['path']}: {len(missing)} of the {len(rows)} files of "
                f"{split} ({manifest}) have no row (by {table['key']}), e.g. "
                f"{missing[:3]}; every training file needs a label"
            )
        if missing:
            logger.warning(
                "%s: %d file(s) of %s have no teacher label and are left "
                "out, e.g. %s",
                table["path"],
                len(missing),
                split,
                missing[:3],
            )
        paths = cache_paths(label_paths[split])
        sidecar = external_sidecar(table)
        start_cache(paths, sidecar)
        write_rows(paths["labels"], LABEL_COLUMNS, out_rows)
        complete_sidecar(paths, sidecar, n_labels=len(out_rows), n_errors=0)
        if paths["parts"].is_dir() and not any(paths["parts"].iterdir()):
            paths["parts"].rmdir()
        counts[split] = len(out_rows)
    return counts


def external_sidecar(table):
    """The sidecar of a label cache made from a table of teacher labels.

    Example
    -------
    >>> external_sidecar({"fingerprint": "labels-sha256:0", "path": "t.csv",
    ...                   "rows": 2})["teacher"]["name"]
    'external labels'
    """
    return {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "fingerprint": table["fingerprint"],
        "precision": "fp32",
        "teacher": {
            "name": "external labels",
            "source": table["path"],
            "class": "CSV",
            "rows": table["rows"],
            "max_window_seconds": None,
        },
        "sample_rate": SAMPLE_RATE,
        "dimensions": list(DIMENSIONS),
        "columns": list(LABEL_COLUMNS),
        "complete": False,
        "updated": _now(),
        "speechbrain_wav2small": __version__,
    }
