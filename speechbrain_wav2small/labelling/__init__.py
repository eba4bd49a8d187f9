"""Pseudo-labelling: a teacher's arousal, dominance and valence for every
clip of a corpus, cached on disk for the students to learn from.

The cache is three files next to each other::

    LABELS.csv                ID,wav,duration,arousal,dominance,valence
    LABELS.csv.teacher.json   which teacher (fingerprint, name, source)
    LABELS.errors.csv         ID,wav,reason   (files that could not be used)

``wav`` is copied verbatim from the input (a manifest's ``$data_root``
placeholders included), ``duration`` is the decoded length in seconds at
16 kHz and the three labels come in :data:`DIMENSIONS` order, so the cache is
itself a SpeechBrain CSV manifest the distillation recipe reads directly.

Guarantees:

* **resumable**: each process appends its rows to a journal under
  ``LABELS.csv.parts/`` and flushes and fsyncs it after every batch. A run
  killed at any point (even SIGKILL) and started again drops a torn last
  line, skips every clip already labelled (or already listed as an error:
  delete the errors file to try those again) and labels only the rest.
  The final files are written to a temporary name, fsynced and renamed
  over the old ones, so they are never torn.
* **stale-safe**: the sidecar is written before the first label. A cache
  whose sidecar names another teacher fingerprint, or a file at ``--out``
  without a sidecar, is refused; ``overwrite=True`` starts it afresh.
* **multi-process**: under ``torchrun`` every rank labels its share of the
  work (largest first, dealt round-robin), writes its own journal, and
  rank 0 merges them in input order. The result equals a single-process run
  up to float rounding in padded batches.
* **robust**: unreadable, empty, silent, NaN/Inf or too-short files are
  listed with the reason in the errors file and the run continues.

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv
import datetime
import io
import json
import logging
import os
import re
import shutil
import signal
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from speechbrain.utils.distributed import (
    ddp_barrier,
    ddp_broadcast,
    ddp_init_group,
    ddp_prevent_block,
)
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import (
    AudioError,
    audio_info,
    find_audio_files,
    read_audio,
)
from speechbrain_wav2small.teachers import teacher_fingerprint
from speechbrain_wav2small.version import __version__

logger = logging.getLogger(__name__)

#: Columns of the label cache.
LABEL_COLUMNS = ("ID", "wav", "duration", *DIMENSIONS)
#: Columns of the errors file.
ERROR_COLUMNS = ("ID", "wav", "reason")
#: ``format`` entry of the sidecar, and its version.
CACHE_FORMAT = "speechbrain-wav2small label cache"
CACHE_VERSION = 1

# Test hooks: kill this process with SIGKILL right after the given number of
# batches has been journalled (optionally after writing half a row, as a
# write cut short would). Used by the resume tests; never set them otherwise.
_KILL_AFTER_BATCHES = "WAV2SMALL_LABEL_TEST_KILL_AFTER_BATCHES"
_KILL_TORN = "WAV2SMALL_LABEL_TEST_TORN_WRITE"

_PLACEHOLDER = re.compile(r"\$([\w.]+)")


class StaleCacheError(RuntimeError):
    """The label cache at ``--out`` was not made by the current teacher."""


class AudioItem(NamedTuple):
    """One clip to label.

    ``wav`` is written to the cache as given (placeholders kept); ``path``
    is where the file is read from; ``duration`` (seconds, 0 when unknown)
    only serves to batch similar lengths together.
    """

    id: str
    wav: str
    path: str
    duration: float


def cache_paths(out):
    """The files of the label cache ``out`` (see the module docstring).

    Example
    -------
    >>> paths = cache_paths("exp/labels.csv")
    >>> str(paths["sidecar"]), str(paths["errors"])
    ('exp/labels.csv.teacher.json', 'exp/labels.errors.csv')
    >>> str(paths["parts"])
    'exp/labels.csv.parts'
    """
    labels = Path(out)
    stem = labels.name[:-4] if labels.name.endswith(".csv") else labels.name
    return {
        "labels": labels,
        "sidecar": labels.with_name(labels.name + ".teacher.json"),
        "errors": labels.with_name(stem + ".errors.csv"),
        "parts": labels.with_name(labels.name + ".parts"),
    }


# --------------------------------------------------------------------------
# Inputs


def _check_text(value, what, where):
    if "\n" in value or "\r" in value:
        raise ValueError(f"{where}: {what} {value!r} contains a line break")


def manifest_items(manifest, replacements=None):
    """The clips of a SpeechBrain CSV manifest (``ID``, ``wav``, ``duration``).

    ``$name`` placeholders in ``wav`` are replaced from ``replacements``
    (as SpeechBrain's ``load_data_csv`` does) for reading; the cache keeps
    them. Relative paths are read from the current directory, as in
    SpeechBrain. A missing ``duration`` is read from the file's header.

    Arguments
    ---------
    manifest : str or os.PathLike
        The CSV file.
    replacements : dict, optional
        e.g. ``{"data_root": "/corpora/msp"}``.

    Returns
    -------
    list of AudioItem

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> _ = open(path, "w").write("ID,duration,wav\\nu1,2.5,$root/u1.wav\\n")
    >>> manifest_items(path, {"root": "/data"})[0]
    AudioItem(id='u1', wav='$root/u1.wav', path='/data/u1.wav', duration=2.5)
    """
    path = Path(manifest)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} does not exist")
    replacements = dict(replacements or {})
    items, seen = [], set()
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream, skipinitialspace=True)
        columns = reader.fieldnames or []
        missing = [c for c in ("ID", "wav") if c not in columns]
        if missing:
            raise ValueError(
                f"manifest {path} lacks the column(s) {', '.join(missing)} "
                f"(has: {', '.join(columns) or 'nothing'})"
            )
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            clip_id, wav = (row["ID"] or "").strip(), row["wav"] or ""
            if not clip_id or not wav:
                raise ValueError(f"{where}: empty ID or wav")
            if clip_id in seen:
                raise ValueError(f"{where}: duplicate ID {clip_id!r}")
            seen.add(clip_id)
            _check_text(clip_id, "ID", where)
            _check_text(wav, "wav", where)
            try:
                resolved = _PLACEHOLDER.sub(
                    lambda m: str(replacements[m[1]]), wav
                )
            except KeyError as error:
                raise ValueError(
                    f"{where}: {wav} needs a value for ${error.args[0]} "
                    f"(pass --{error.args[0]} or a replacement)"
                ) from None
            text = (row.get("duration") or "").strip()
            try:
                duration = float(text) if text else _header_duration(resolved)
            except ValueError:
                raise ValueError(
                    f"{where}: duration {text!r} is not a number"
                ) from None
            items.append(AudioItem(clip_id, wav, resolved, duration))
    return items


def _header_duration(path):
    try:
        return audio_info(path)["duration"]
    except AudioError:
        return 0.0  # labelling it will report why


def folder_items(folder):
    """The audio files under ``folder`` (recursive, sorted) as clips.

    The ID is the path relative to ``folder`` without its extension (with
    the extension when two files differ only by it); ``wav`` is absolute.

    Example
    -------
    >>> import tempfile, soundfile
    >>> folder = tempfile.mkdtemp()
    >>> soundfile.write(os.path.join(folder, "a.flac"), np.zeros(800), 8000)
    >>> [(item.id, item.duration) for item in folder_items(folder)]
    [('a', 0.1)]
    """
    files = find_audio_files(folder)
    relative = [os.path.relpath(f, folder).replace(os.sep, "/") for f in files]
    stems = [os.path.splitext(r)[0] for r in relative]
    clashes = {s for s in stems if stems.count(s) > 1}
    items = []
    for path, rel, stem in zip(files, relative, stems):
        clip_id = rel if stem in clashes else stem
        _check_text(path, "file name", folder)
        absolute = os.path.abspath(path)
        items.append(
            AudioItem(clip_id, absolute, absolute, _header_duration(path))
        )
    return items


def duration_batches(
    durations, batch_seconds, max_batch_size=None, window_seconds=None
):
    """Groups clips of similar duration under a padded-seconds budget.

    Clips are sorted longest first (a batch too big for memory fails at
    once, not hours in) and taken greedily while ``batch size x longest``
    stays within ``batch_seconds``; a clip longer than the budget gets a
    batch of its own. With a teacher window, a clip costs at most the
    window (the teacher never sees more at once).

    Arguments
    ---------
    durations : list of float
        Seconds per clip.
    batch_seconds : float
        Budget of padded audio per batch.
    max_batch_size : int, optional
        Cap on clips per batch.
    window_seconds : float, optional
        The teacher's window.

    Returns
    -------
    list of list of int
        Positions into ``durations``.

    Example
    -------
    >>> duration_batches([1.0, 4.0, 2.0, 1.5], batch_seconds=4.0)
    [[1], [2, 3], [0]]
    """
    costs = [min(d, window_seconds) if window_seconds else d for d in durations]
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    batches, current = [], []
    for position in order:
        size = len(current) + 1
        longest = costs[current[0]] if current else costs[position]
        full = max_batch_size is not None and size > max_batch_size
        if current and (full or size * longest > batch_seconds):
            batches.append(current)
            current = []
        current.append(position)
    if current:
        batches.append(current)
    return batches


# --------------------------------------------------------------------------
# Reading clips


class _ClipDataset(Dataset):
    """Reads, checks and resamples one clip; errors become results."""

    def __init__(self, items, min_samples):
        self.items = items
        self.min_samples = min_samples

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        item = self.items[index]
        try:
            samples = read_audio(item.path)
        except AudioError as error:
            return index, error.reason
        if not np.any(samples):
            return index, "silent (every sample is zero)"
        if samples.shape[0] < self.min_samples:
            return index, (
                f"too short ({samples.shape[0]} samples at 16 kHz; the "
                f"teacher needs at least {self.min_samples})"
            )
        return index, samples


def _collate(results):
    """Pads the readable clips; keeps (index, reason) of the others."""
    good = [(i, s) for i, s in results if not isinstance(s, str)]
    failed = [(i, s) for i, s in results if isinstance(s, str)]
    if not good:
        return [], None, None, failed
    counts = torch.tensor([s.shape[0] for _, s in good])
    wavs = torch.zeros(len(good), int(counts.max()))
    for row, (_, samples) in enumerate(good):
        wavs[row, : samples.shape[0]] = torch.from_numpy(samples)
    # float64: float32 relative lengths lose whole samples on long clips.
    lengths = counts.to(torch.float64) / wavs.shape[1]
    return [i for i, _ in good], wavs, lengths, failed


# --------------------------------------------------------------------------
# Journals and the final files


def _csv_line(values):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _fsync_folder(folder):
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # not every file system can sync a folder
    finally:
        os.close(descriptor)


class _Journal:
    """Append-only CSV, flushed and fsynced after every batch of rows."""

    def __init__(self, path, columns):
        self.path = Path(path)
        self.columns = columns
        self.stream = None

    def __enter__(self):
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.stream = open(self.path, "a", encoding="utf-8", newline="")
        if new:
            self.stream.write(_csv_line(self.columns))
            self._sync()
            _fsync_folder(self.path.parent)
        return self

    def append(self, rows):
        if rows:
            self.stream.write("".join(_csv_line(row) for row in rows))
            self._sync()

    def _sync(self):
        self.stream.flush()
        os.fsync(self.stream.fileno())

    def __exit__(self, *exc):
        self.stream.close()


def _repair_torn_line(path):
    """Drops the unfinished last line a killed writer may have left."""
    with open(path, "rb+") as stream:
        data = stream.read()
        if data and not data.endswith(b"\n"):
            stream.truncate(data.rfind(b"\n") + 1)
            logger.info("%s: dropped an unfinished last line", path)


def _read_rows(path, columns):
    """Rows of a cache CSV or journal as dicts, checked field by field."""
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
            rows.append(dict(zip(columns, values)))
    if columns == LABEL_COLUMNS:
        for row in rows:
            for name in ("duration", *DIMENSIONS):
                float(row[name])  # a corrupt value must not pass silently
    return rows


def _write_csv_atomically(path, columns, rows):
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as stream:
        stream.write(_csv_line(columns))
        stream.write("".join(_csv_line([r[c] for c in columns]) for r in rows))
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, path)


def _write_json_atomically(path, content):
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as stream:
        json.dump(content, stream, indent=2)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, path)


def _journals(paths, kind):
    if not paths["parts"].is_dir():
        return []
    return sorted(paths["parts"].glob(f"rank*.{kind}.csv"))


def read_label_cache(out, fingerprint=None, require_complete=True):
    """Reads a label cache made by :class:`PseudoLabeller`.

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
    dict
        ``{"teacher": <sidecar dict>, "labels": {ID: {"wav", "duration",
        "labels": [arousal, dominance, valence]}}}``.
    """
    paths = cache_paths(out)
    for key in ("labels", "sidecar"):
        if not paths[key].is_file():
            raise FileNotFoundError(f"label cache file {paths[key]} is missing")
    with open(paths["sidecar"], encoding="utf-8") as stream:
        sidecar = json.load(stream)
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
    labels = {}
    for row in _read_rows(paths["labels"], LABEL_COLUMNS):
        labels[row["ID"]] = {
            "wav": row["wav"],
            "duration": float(row["duration"]),
            "labels": [float(row[name]) for name in DIMENSIONS],
        }
    return {"teacher": sidecar, "labels": labels}


# --------------------------------------------------------------------------
# Distributed helpers


def init_distributed(device="cpu"):
    """Joins the process group when started by ``torchrun``.

    gloo for CPU devices, nccl for CUDA (each rank on ``cuda:LOCAL_RANK``).
    Without ``torchrun`` (``WORLD_SIZE`` unset or 1) nothing happens.

    Returns
    -------
    str
        The device this process should use.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    cuda = str(device).startswith("cuda")
    if not torch.distributed.is_initialized():
        ddp_init_group({"distributed_backend": "nccl" if cuda else "gloo"})
    if cuda:
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return device


def _rank_and_world():
    # Inside SpeechBrain's run_on_main only rank 0 gets here: it must then
    # label everything on its own, without waiting for the other ranks.
    if ddp_prevent_block():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def _sum_over_ranks(values):
    totals = torch.tensor(values, dtype=torch.float64)
    if _rank_and_world()[1] > 1:
        torch.distributed.all_reduce(totals)
    return totals.tolist()


# --------------------------------------------------------------------------
# The labeller


def _format_label(value):
    # 9 significant digits: every float32 reads back exactly.
    return format(value, ".9g")


def _format_duration(samples):
    return repr(round(samples / SAMPLE_RATE, 6))


class PseudoLabeller:
    """Labels clips with a teacher into a resumable, stale-safe cache.

    Arguments
    ---------
    teacher : torch.nn.Module
        ``teacher(wavs [batch, time], lengths [batch]) -> [batch, 3]``,
        e.g. from :func:`speechbrain_wav2small.teachers.load_teacher`.
    batch_seconds : float
        Padded seconds of audio per batch (memory and speed knob).
    max_batch_size : int
        At most this many clips per batch.
    device : str, optional
        Where to run the teacher (moved there); default: where it is.
    num_workers : int
        DataLoader workers reading audio (0: read in this process).
    progress : bool
        Show a progress bar (rank 0 only).

    Example
    -------
    >>> import tempfile, soundfile
    >>> from speechbrain_wav2small.teachers import build_teacher
    >>> folder = tempfile.mkdtemp()
    >>> tone = np.sin(np.arange(16000) / 5.0) * 0.1
    >>> soundfile.write(os.path.join(folder, "tone.wav"), tone, 16000)
    >>> soundfile.write(os.path.join(folder, "mute.wav"), tone * 0, 16000)
    >>> labeller = PseudoLabeller(build_teacher("dawn"), progress=False)
    >>> out = os.path.join(folder, "labels.csv")
    >>> summary = labeller.label(folder_items(folder), out)
    >>> summary["labelled"], summary["errors"]
    (1, 1)
    >>> open(out).readline().strip()
    'ID,wav,duration,arousal,dominance,valence'
    >>> open(cache_paths(out)["errors"]).read().splitlines()[1].endswith(
    ...     "silent (every sample is zero)")
    True
    """

    def __init__(
        self,
        teacher,
        batch_seconds=120.0,
        max_batch_size=32,
        device=None,
        num_workers=0,
        progress=True,
    ):
        if batch_seconds <= 0:
            raise ValueError(f"batch_seconds must be > 0, not {batch_seconds}")
        self.teacher = teacher if device is None else teacher.to(device)
        self.device = (
            torch.device(device)
            if device is not None
            else next(teacher.parameters()).device
        )
        self.batch_seconds = float(batch_seconds)
        self.max_batch_size = max_batch_size
        self.num_workers = num_workers
        self.progress = progress

    def label_manifest(self, manifest, out, replacements=None, **kwargs):
        """Labels a SpeechBrain CSV manifest (see :func:`manifest_items`)."""
        items = manifest_items(manifest, replacements)
        return self.label(items, out, **kwargs)

    def label_folder(self, folder, out, **kwargs):
        """Labels every audio file under a folder (see :func:`folder_items`)."""
        return self.label(folder_items(folder), out, **kwargs)

    def label(self, items, out, overwrite=False):
        """Labels whatever in ``items`` the cache ``out`` does not hold yet.

        Every rank of a ``torchrun`` job calls this with the same items
        and shares the work; called inside SpeechBrain's ``run_on_main``,
        rank 0 labels everything alone.

        Arguments
        ---------
        items : list of AudioItem
            The clips (unique IDs).
        out : str or os.PathLike
            The label cache CSV; its sidecar and errors file sit next to it.
        overwrite : bool
            Delete an existing cache (of any teacher) and start afresh.

        Returns
        -------
        dict
            ``labelled``, ``errors`` (this run), ``already_done``,
            ``audio_seconds``, ``wall_seconds``, ``teacher_seconds`` (time
            in the teacher's forward, summed over processes),
            ``clips_per_second``, ``audio_seconds_per_second`` and the
            three file paths.

        Raises
        ------
        StaleCacheError
            ``out`` holds labels of another teacher, or of an unknown one.
        """
        started = time.perf_counter()
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate clip IDs: {duplicates[:5]}")
        paths = cache_paths(out)
        rank, world = _rank_and_world()
        self.teacher.eval()
        fingerprint = teacher_fingerprint(self.teacher)

        problem, pending = None, None
        if rank == 0:
            try:
                self._prepare(paths, fingerprint, overwrite)
                done = self._done_ids(paths)
                pending = [
                    i for i, item in enumerate(items) if item.id not in done
                ]
            except (StaleCacheError, ValueError, OSError) as error:
                problem = error
        # Every rank must learn about a refusal, or the others would wait
        # for rank 0 forever.
        problem, pending = ddp_broadcast((problem, pending))
        if problem is not None:
            raise problem
        already_done = len(items) - len(pending)
        by_size = sorted(pending, key=lambda i: (-items[i].duration, i))
        mine = by_size[rank::world]
        counters = self._label_share(items, mine, paths, rank)
        ddp_barrier()
        if rank == 0:
            self._merge(items, paths, fingerprint)
        ddp_barrier()
        labelled, errors, seconds, teacher_seconds = _sum_over_ranks(counters)
        wall = time.perf_counter() - started
        summary = {
            "labelled": int(labelled),
            "errors": int(errors),
            "already_done": already_done,
            "audio_seconds": seconds,
            "wall_seconds": wall,
            # Summed over processes: the time the teacher itself took.
            "teacher_seconds": teacher_seconds,
            "clips_per_second": labelled / wall,
            "audio_seconds_per_second": seconds / wall,
            "labels_file": str(paths["labels"]),
            "errors_file": str(paths["errors"]),
            "sidecar_file": str(paths["sidecar"]),
        }
        return summary

    # The steps of label(), in order.

    def _sidecar(self, fingerprint, complete, counts=None):
        content = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "fingerprint": fingerprint,
            "teacher": {
                "name": getattr(
                    self.teacher, "name", type(self.teacher).__name__
                ),
                "source": getattr(self.teacher, "source", None),
                "class": type(self.teacher).__name__,
                "max_window_seconds": getattr(
                    self.teacher, "max_window_seconds", None
                ),
            },
            "sample_rate": SAMPLE_RATE,
            "dimensions": list(DIMENSIONS),
            "columns": list(LABEL_COLUMNS),
            "complete": complete,
            "updated": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
            "speechbrain_wav2small": __version__,
        }
        if counts:
            content.update(counts)
        return content

    def _prepare(self, paths, fingerprint, overwrite):
        """Refuses another teacher's cache; writes the sidecar first."""
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
            with open(paths["sidecar"], encoding="utf-8") as stream:
                try:
                    previous = json.load(stream)
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
        elif leftovers:
            raise StaleCacheError(
                f"{paths['labels']} (or its journals) exists without the "
                f"sidecar {paths['sidecar'].name}, so which teacher made it "
                "is unknown. Choose another --out, or pass --overwrite to "
                "replace it."
            )
        paths["labels"].parent.mkdir(parents=True, exist_ok=True)
        paths["parts"].mkdir(exist_ok=True)
        _write_json_atomically(
            paths["sidecar"], self._sidecar(fingerprint, complete=False)
        )

    def _done_ids(self, paths):
        done = set()
        for path in _journals(paths, "labels") + _journals(paths, "errors"):
            _repair_torn_line(path)
        for path in [paths["labels"], *_journals(paths, "labels")]:
            if path.is_file():
                done.update(r["ID"] for r in _read_rows(path, LABEL_COLUMNS))
        for path in [paths["errors"], *_journals(paths, "errors")]:
            if path.is_file():
                done.update(r["ID"] for r in _read_rows(path, ERROR_COLUMNS))
        return done

    def _label_share(self, items, mine, paths, rank):
        """Labels ``items[i] for i in mine`` into this rank's journals."""
        batches = duration_batches(
            [items[i].duration for i in mine],
            self.batch_seconds,
            self.max_batch_size,
            getattr(self.teacher, "max_window_seconds", None),
        )
        loader = DataLoader(
            _ClipDataset(items, self.teacher.min_samples),
            batch_sampler=[[mine[j] for j in batch] for batch in batches],
            collate_fn=_collate,
            num_workers=self.num_workers,
        )
        kill_after = int(os.environ.get(_KILL_AFTER_BATCHES, "0"))
        labelled = failed = 0
        seconds = teacher_seconds = 0.0
        bar = tqdm(
            total=len(mine),
            unit="clip",
            desc="labelling",
            disable=not self.progress or rank != 0,
            dynamic_ncols=True,
        )
        parts = paths["parts"]
        with (
            _Journal(
                parts / f"rank{rank}.labels.csv", LABEL_COLUMNS
            ) as journal,
            _Journal(parts / f"rank{rank}.errors.csv", ERROR_COLUMNS) as errors,
        ):
            for number, (good, wavs, lengths, bad) in enumerate(loader, 1):
                rows = []
                error_rows = [
                    (items[i].id, items[i].wav, reason) for i, reason in bad
                ]
                if good:
                    forward_started = time.perf_counter()
                    with torch.inference_mode():
                        outputs = self.teacher(
                            wavs.to(self.device), lengths.to(self.device)
                        )
                    # .cpu() waits for the device, so the time is complete.
                    outputs = outputs.float().cpu()
                    teacher_seconds += time.perf_counter() - forward_started
                    counts = torch.round(lengths * wavs.shape[1]).long()
                    for index, values, count in zip(good, outputs, counts):
                        item = items[index]
                        if not torch.isfinite(values).all():
                            error_rows.append(
                                (item.id, item.wav, "teacher output is NaN/Inf")
                            )
                            continue
                        rows.append(
                            [item.id, item.wav, _format_duration(int(count))]
                            + [_format_label(v) for v in values.tolist()]
                        )
                        seconds += int(count) / SAMPLE_RATE
                journal.append(rows)
                errors.append(error_rows)
                labelled += len(rows)
                failed += len(error_rows)
                bar.update(len(rows) + len(error_rows))
                if kill_after and number >= kill_after:
                    _kill_for_test(journal)
        bar.close()
        return [labelled, failed, seconds, teacher_seconds]

    def _merge(self, items, paths, fingerprint):
        """Journals + previous cache -> final files, in input order."""
        position = {item.id: i for i, item in enumerate(items)}

        def collect(final, kind, columns):
            rows = {}
            for path in [final, *_journals(paths, kind)]:
                if path.is_file():
                    for row in _read_rows(path, columns):
                        rows.setdefault(row["ID"], row)
            # Rows of clips no longer in the input are kept, after the rest:
            # nothing labelled earlier is thrown away.
            return sorted(
                rows.values(),
                key=lambda r: (position.get(r["ID"], len(position)),),
            )

        labels = collect(paths["labels"], "labels", LABEL_COLUMNS)
        labelled_ids = {row["ID"] for row in labels}
        errors = [
            row
            for row in collect(paths["errors"], "errors", ERROR_COLUMNS)
            if row["ID"] not in labelled_ids
        ]
        _write_csv_atomically(paths["labels"], LABEL_COLUMNS, labels)
        _write_csv_atomically(paths["errors"], ERROR_COLUMNS, errors)
        _fsync_folder(paths["labels"].parent)
        # Only once the final files hold every journal row.
        shutil.rmtree(paths["parts"], ignore_errors=True)
        counts = {"n_labels": len(labels), "n_errors": len(errors)}
        _write_json_atomically(
            paths["sidecar"],
            self._sidecar(fingerprint, complete=True, counts=counts),
        )


def _kill_for_test(journal):
    if os.environ.get(_KILL_TORN):
        journal.stream.write("torn-id,/a/torn/wr")
        journal.stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def throughput_line(summary):
    """One line: clips/s and seconds of audio per second of wall time.

    Example
    -------
    >>> line = throughput_line({"labelled": 10, "errors": 1,
    ...     "audio_seconds": 30.0, "wall_seconds": 2.0,
    ...     "clips_per_second": 5.0, "audio_seconds_per_second": 15.0})
    >>> head, rates = line.split(": ")
    >>> head
    'labelled 10 clips (30.0 s of audio, 1 errors) in 2.0 s'
    >>> rates
    '5.00 clips/s, 15.0 audio s/s'
    """
    return (
        f"labelled {summary['labelled']} clips "
        f"({summary['audio_seconds']:.1f} s of audio, {summary['errors']} "
        f"errors) in {summary['wall_seconds']:.1f} s: "
        f"{summary['clips_per_second']:.2f} clips/s, "
        f"{summary['audio_seconds_per_second']:.1f} audio s/s"
    )
