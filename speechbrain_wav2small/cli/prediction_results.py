"""The results file of ``wav2small predict``: its rows, written as CSV or
JSON file by file, and resumed after an interruption.

Rows are written as each input file is done: to standard output, or to a
partial file beside ``--out`` (``RESULTS.partial.csv``, or
``RESULTS.partial.jsonl`` for a ``.json`` out: the rows of one input file
per line), in one write per file and flushed, so that a kill leaves every
finished file's rows on disk. ``--out`` itself is written only when every
file is done (:meth:`RowWriter.finish`: the CSV partial file renamed, the
JSON one converted), so that a crash never loses an earlier ``--out``.
Resuming (:meth:`RowWriter.open`) reads what is there, cuts what a kill
may have left unfinished (a JSON line that does not parse; the last
file's rows in a CSV, which a kill may have cut between two rows), and
appends. A second run on the same partial file is refused (``flock``).

Text cells are written as valid UTF-8 (:func:`printable`), and JSON
never holds NaN or Inf (``allow_nan=False``; such rows become error rows).

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv
import io
import json
import os
import shutil
import sys
import tempfile

from speechbrain_wav2small.utils.durable import atomic_open, fsync_folder
from speechbrain_wav2small.utils.model_files import embedding_names

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None

#: Key of a row's embedding (``--embeddings``); CSV spreads it over the
#: columns ``embedding_0``... after :data:`COLUMNS`.
EMBEDDING = "embedding"

#: The columns of every row, in order: a file row (level ``file``) and,
#: with windows, one row per window (level ``window``).
COLUMNS = (
    "path",
    "level",
    "start",
    "end",
    "arousal",
    "dominance",
    "valence",
    "error",
)

#: Extension of ``--out`` -> that of the file its rows go to until the run
#: is done.
PARTIAL_SUFFIXES = {".csv": ".partial.csv", ".json": ".partial.jsonl"}

#: Error of a row whose scores or embedding are NaN or Inf.
NOT_FINITE = "model output is not finite (NaN or Inf)"


class UsageError(ValueError):
    """Options that cannot work, found before any work (exit status 2)."""


class OutputError(RuntimeError):
    """``--out`` (or its partial file) cannot be written or resumed."""


def error_row(path, message, embeddings=False):
    """One output row for a file that could not be predicted (with
    ``embeddings``, its ``embedding`` is None).

    Example
    -------
    >>> error_row("a.wav", "file is empty (0 bytes)")["error"]
    'file is empty (0 bytes)'
    """
    row = {
        "path": path,
        "level": "file",
        "start": None,
        "end": None,
        "arousal": None,
        "dominance": None,
        "valence": None,
        "error": message,
    }
    if embeddings:
        row[EMBEDDING] = None
    return row


def printable(text):
    """``text`` as valid UTF-8: the bytes of a file name that are not
    UTF-8 (which Python holds as surrogates) become ``\\xNN`` escapes.

    Example
    -------
    >>> import os
    >>> printable(os.fsdecode(b"caf\\xe9.wav"))
    'caf\\\\xe9.wav'
    >>> printable("ça va.wav")
    'ça va.wav'
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that are not from a file name
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _printable_row(row):
    """``row`` with its text cells :func:`printable`."""
    return {
        key: printable(value) if isinstance(value, str) else value
        for key, value in row.items()
    }


def _csv_text(rows, names, header=False):
    """Rows as CSV text (None as an empty cell), each embedding spread
    over its ``embedding_<i>`` columns ``names``."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS + tuple(names))
    if header:
        writer.writeheader()
    for row in rows:
        row = _printable_row(row)
        embedding = row.pop(EMBEDDING, None)
        if embedding is not None:
            row.update(zip(names, embedding, strict=True))
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return text.getvalue()


def _json_line(rows):
    """The rows of one file as one line of JSON (raises ``ValueError`` on
    NaN or Inf: no JSON reader takes them)."""
    rows = [_printable_row(row) for row in rows]
    return json.dumps(rows, ensure_ascii=False, allow_nan=False) + "\n"


def _write_json_document(stream, groups):
    """Writes the rows of ``groups`` (lists of rows) as one JSON list, a
    row per line, without holding them all."""
    first = True
    stream.write("[")
    for rows in groups:
        for row in rows:
            stream.write("\n  " if first else ",\n  ")
            first = False
            stream.write(json.dumps(row, ensure_ascii=False, allow_nan=False))
    stream.write("]\n" if first else "\n]\n")


def write_rows(rows, out=None, embedding_size=None):
    """Writes rows as CSV or JSON (by extension), or CSV to stdout.

    Arguments
    ---------
    rows : list of dict
        Rows with the keys of :data:`COLUMNS` (and :data:`EMBEDDING`).
    out : str, optional
        A ``.csv`` or ``.json`` file, replaced whole (never left half
        written); standard output when omitted.
    embedding_size : int, optional
        F, when the rows have embeddings: CSV gets the columns
        ``embedding_0`` to ``embedding_{F-1}`` in place of the list.

    Raises
    ------
    ValueError
        ``out`` of another extension; a NaN or Inf in JSON rows.

    Example
    -------
    >>> rows = [error_row("a.wav", "empty")]
    >>> write_rows(rows)  # doctest: +NORMALIZE_WHITESPACE
    path,level,start,end,arousal,dominance,valence,error
    a.wav,file,,,,,,empty
    >>> rows = [error_row("a.wav", "empty", embeddings=True)]
    >>> write_rows(rows, embedding_size=2)  # doctest: +NORMALIZE_WHITESPACE
    path,level,start,end,arousal,dominance,valence,error,embedding_0,embedding_1
    a.wav,file,,,,,,empty,,
    """
    names = embedding_names(embedding_size or 0)
    if out and out.lower().endswith(".json"):
        with atomic_open(out) as stream:
            _write_json_document(stream, [map(_printable_row, rows)])
        return
    if out and not out.lower().endswith(".csv"):
        raise ValueError(f"--out must end in .csv or .json, got {out}")
    text = _csv_text(rows, names, header=True)
    if not out:
        sys.stdout.write(text)
        return
    with atomic_open(out, newline="") as stream:
        stream.write(text)


def partial_path(out):
    """The file the rows for ``out`` go to until the run is done.

    Example
    -------
    >>> partial_path("results/all.csv"), partial_path("all.json")
    ('results/all.partial.csv', 'all.partial.jsonl')
    """
    base, extension = os.path.splitext(out)
    return base + PARTIAL_SUFFIXES[extension.lower()]


def check_out(out, resume=False):
    """Checks ``--out`` before any work; creates its folder.

    Arguments
    ---------
    out : str
        The results file.
    resume : bool
        Whether an unfinished partial file may be there (``--resume``).

    Returns
    -------
    str
        Its partial file (:func:`partial_path`).

    Raises
    ------
    UsageError
        Another extension than .csv or .json; a folder; a folder that
        cannot be created or written in; an unfinished partial file
        without ``resume``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.path.basename(check_out(os.path.join(folder, "results.csv")))
    'results.partial.csv'
    >>> os.mkdir(os.path.join(folder, "taken.csv"))
    >>> check_out(os.path.join(folder, "taken.csv"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    speechbrain_wav2small...UsageError: --out ...taken.csv is a folder; ...
    """
    extension = os.path.splitext(out)[1].lower()
    if extension not in PARTIAL_SUFFIXES:
        raise UsageError(f"--out must end in .csv or .json: {out}")
    partial = partial_path(out)
    if os.path.isdir(out):
        raise UsageError(
            f"--out {out} is a folder; name a .csv or .json file (in it)"
        )
    if os.path.isdir(partial):
        raise UsageError(
            f"--out {out}: {partial}, where its rows go until the run is "
            "done, is a folder"
        )
    folder = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(folder, exist_ok=True)
        # The one sure test of writing there (permissions, read-only
        # file systems, root without its capabilities): a file.
        handle, probe = tempfile.mkstemp(
            dir=folder, prefix=f".{os.path.basename(out)}.", suffix=".check"
        )
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise UsageError(
            f"--out {out}: cannot write in its folder {folder} ({reason})"
        ) from None
    if os.path.exists(partial) and not resume:
        raise UsageError(
            f"--out {out}: {partial} holds the rows of an unfinished run; "
            "add --resume to finish it, or delete it to start over"
        )
    return partial


class RowWriter:
    """Writes the rows of each file as soon as it is done (see the module
    docstring): CSV to standard output, or to the partial file of
    ``out``, moved (CSV) or converted (JSON) to ``out`` by :meth:`finish`.

    Arguments
    ---------
    out : str, optional
        The ``.csv`` or ``.json`` results file (checked by
        :func:`check_out`); standard output when omitted.
    embedding_size : int, optional
        F, when the rows have embeddings.

    Example
    -------
    >>> import tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "results.csv")
    >>> writer = RowWriter(out)
    >>> writer.open()
    {}
    >>> writer.write([error_row("a.wav", "file is empty")])
    >>> writer.finish()
    >>> print(open(out).read().splitlines()[1])
    a.wav,file,,,,,,file is empty
    """

    def __init__(self, out=None, embedding_size=None):
        self.out = out
        self.names = embedding_names(embedding_size or 0)
        self.keys = set(COLUMNS) | ({EMBEDDING} if embedding_size else set())
        self.json = bool(out) and out.lower().endswith(".json")
        self.partial = partial_path(out) if out else None
        self.handle = None
        #: Path (as written) -> whether its file row has scores.
        self.done = {}

    def open(self, resume=False):
        """Starts the partial file, or resumes it (``resume``: from the
        partial file of an interrupted run, or from a finished ``out``).

        Returns
        -------
        dict
            The paths (as written) that already have rows -> whether they
            were predicted (their file row has no error).

        Raises
        ------
        OutputError
            Another run writes the partial file; what is there is not
            this command's rows (another --embeddings choice, not our
            format).
        """
        if self.out is None:
            sys.stdout.write(_csv_text([], self.names, header=True))
            sys.stdout.flush()
            return self.done
        if resume and os.path.exists(self.partial):
            self.handle = self._open(os.O_RDWR)
            self._recover(interrupted=True)
        elif resume and os.path.exists(self.out):
            self.handle = self._open(os.O_RDWR | os.O_CREAT | os.O_EXCL)
            try:
                self._copy_finished()
                self._recover(interrupted=False)
            except BaseException:
                # The copy is this run's own: it must not look like the
                # rows of an unfinished run next time.
                self.close()
                os.remove(self.partial)
                raise
        else:
            self.handle = self._open(os.O_RDWR | os.O_CREAT | os.O_EXCL)
        if not self.json and os.fstat(self.handle).st_size == 0:
            self._append(_csv_text([], self.names, header=True))
        return self.done

    def write(self, rows):
        """Writes the rows of one file, in one write, and flushes them
        (a non-finite row becomes an error row)."""
        try:
            line = _json_line(rows)
        except ValueError:  # NaN or Inf: JSON has no words for them
            rows = [
                error_row(rows[0]["path"], NOT_FINITE, EMBEDDING in rows[0])
            ]
            line = _json_line(rows)
        path = printable(rows[0]["path"])
        self.done[path] = not rows[0]["error"]
        if self.out is None:
            sys.stdout.write(_csv_text(rows, self.names))
            sys.stdout.flush()
        else:
            self._append(line if self.json else _csv_text(rows, self.names))

    def finish(self):
        """Puts the complete results in ``out`` (replacing an earlier
        file) and removes the partial file."""
        if self.out is None:
            return
        os.fsync(self.handle)
        self.close()
        if self.json:
            with atomic_open(self.out) as stream:
                _write_json_document(stream, self._groups())
            os.remove(self.partial)
        else:
            os.replace(self.partial, self.out)
        fsync_folder(os.path.dirname(os.path.abspath(self.out)))

    def close(self):
        """Closes the partial file as it stands (its rows stay)."""
        if self.handle is not None:
            os.close(self.handle)
            self.handle = None

    def _open(self, flags):
        """Opens the partial file for appending, locked against a second
        run."""
        try:
            handle = os.open(self.partial, flags | os.O_APPEND, 0o666)
        except FileExistsError:
            raise OutputError(
                f"{self.partial} appeared while this run started: is "
                "another wav2small predict writing it?"
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(handle)
                raise OutputError(
                    f"{self.partial} is being written by another "
                    "wav2small predict run"
                ) from None
        return handle

    def _append(self, text):
        """Appends ``text`` (UTF-8) to the partial file."""
        data = text.encode("utf-8")
        while data:
            data = data[os.write(self.handle, data) :]

    def _copy_finished(self):
        """Fills the new partial file with the rows of a finished
        ``out``."""
        if not self.json:
            with open(self.out, "rb") as source:
                with open(self.handle, "wb", closefd=False) as target:
                    shutil.copyfileobj(source, target)
            return
        try:
            with open(self.out, encoding="utf-8") as stream:
                rows = json.load(stream)
            groups = []
            for row in rows:
                if groups and groups[-1][0]["path"] == row["path"]:
                    groups[-1].append(row)
                else:
                    groups.append([row])
        except (ValueError, TypeError, KeyError) as error:
            raise OutputError(
                f"cannot resume from {self.out}: it is not a list of rows "
                f"written by wav2small predict ({error})"
            ) from None
        for rows in groups:
            self._append(_json_line(rows))

    def _recover(self, interrupted):
        """Reads the rows in the partial file into :attr:`done` and cuts
        what a kill may have left unfinished."""
        os.lseek(self.handle, 0, os.SEEK_SET)
        with open(self.handle, "rb", closefd=False) as stream:
            if self.json:
                keep = self._recover_json(stream)
            else:
                keep = self._recover_csv(stream, interrupted)
        os.ftruncate(self.handle, keep)
        # A finished CSV edited by hand may lack its last line break.
        if (
            keep
            and not self.json
            and os.pread(self.handle, 1, keep - 1) != b"\n"
        ):
            self._append("\r\n")

    def _recover_json(self, stream):
        """:meth:`_recover` of a JSON-lines partial file: every complete
        line is one file's rows; returns the bytes to keep."""
        keep = 0
        for number, line in enumerate(stream, start=1):
            try:
                rows = json.loads(line) if line.endswith(b"\n") else None
                self._check_keys(rows[0])
            except (ValueError, TypeError, IndexError, KeyError):
                if stream.read(1):  # not the last line: not ours to cut
                    raise OutputError(
                        f"line {number} of {self.partial} is not the rows "
                        "of a file as wav2small predict writes them; move "
                        "the file away to start over"
                    ) from None
                break  # the last line, cut short by a kill
            self.done[rows[0]["path"]] = not rows[0]["error"]
            keep += len(line)
        return keep

    def _recover_csv(self, stream, interrupted):
        """:meth:`_recover` of a CSV partial file; returns the bytes to
        keep: all but the last file's rows when ``interrupted``."""
        consumed = 0

        def lines():
            """The lines of ``stream`` as text, counting their bytes."""
            nonlocal consumed
            for line in stream:
                consumed += len(line)
                yield line.decode("utf-8", "replace")

        reader = csv.reader(lines())
        header = next(reader, None)
        if header is None:
            return 0
        expected = list(COLUMNS) + self.names
        if header != expected:
            raise OutputError(
                f"{self.partial} has the columns {header}, this run writes "
                f"{expected}: resume with the same --embeddings choice"
            )
        groups = []  # (path, predicted, byte offset of its first row)
        error = expected.index("error")
        start = consumed
        for record in reader:
            if record and (not groups or groups[-1][0] != record[0]):
                ok = len(record) > error and not record[error]
                groups.append((record[0], ok, start))
            start = consumed
        if interrupted and groups:
            # A kill may have cut the last file's rows short: redo it.
            *groups, (_, _, start) = groups
        self.done.update((path, ok) for path, ok, _ in groups)
        return start

    def _check_keys(self, row):
        """Raises :class:`OutputError` unless ``row`` (a dict) has this
        run's keys."""
        if set(row) != self.keys:
            raise OutputError(
                f"{self.partial} holds rows with the keys {sorted(row)}, "
                f"this run writes {sorted(self.keys)}: resume with the same "
                "--embeddings choice"
            )

    def _groups(self):
        """The rows of each file in the partial file, file by file."""
        with open(self.partial, encoding="utf-8") as stream:
            for line in stream:
                yield json.loads(line)
