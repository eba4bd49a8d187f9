"""The clips to label: from a manifest or a folder, batched and read.

A clip is an :class:`AudioItem`; :func:`duration_batches` groups clips of
similar length, and :class:`ClipDataset` with :func:`collate_clips` reads,
checks and pads them for the teacher, turning unusable files into reasons.

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv
import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from speechbrain_wav2small.dataio.audio import (
    AudioError,
    audio_info,
    read_audio,
    scan_audio_folder,
)

_PLACEHOLDER = re.compile(r"\$([\w.]+)")


class AudioItem(NamedTuple):
    """One clip to label.

    ``wav`` is written to the cache as given (placeholders kept); ``path``
    is where the file is read from; ``duration`` (seconds, 0 when unknown)
    only serves to batch similar lengths together. A non-empty ``problem``
    says why the clip cannot be labelled at all (a folder that cannot be
    listed, a name the cache cannot hold): it goes to the errors file as
    the reason, and nothing is read.

    Example
    -------
    >>> AudioItem("u1", "$root/u1.wav", "/data/u1.wav", 2.5).path
    '/data/u1.wav'
    """

    id: str
    wav: str
    path: str
    duration: float
    problem: str = ""


def _unsafe_text(value):
    """Why ``value`` cannot go into the cache as it is (None if it can).

    The cache and its journals are UTF-8 with one row per line: resuming
    after a kill drops a torn last line, which a line break inside a field
    would defeat, and bytes of a file name that are not UTF-8 cannot be
    written at all.

    Example
    -------
    >>> _unsafe_text("a b.wav"), _unsafe_text("a\\nb.wav")
    (None, 'contains a line break')
    """
    if "\n" in value or "\r" in value:
        return "contains a line break"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


def printable(value):
    """``value`` on one line of UTF-8: line breaks and undecodable bytes of
    a file name written as backslash escapes.

    Example
    -------
    >>> print(printable("take\\n2.wav"))
    take\\n2.wav
    """
    text = value.replace("\r", "\\r").replace("\n", "\\n")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _refused(clip_id, wav, path, what, reason):
    """A clip whose name the cache cannot hold: its error row names it
    escaped (see :func:`printable`)."""
    return AudioItem(
        printable(clip_id),
        printable(wav),
        path,
        0.0,
        f"{what} {reason}, which the label cache (one row per line of "
        "UTF-8 text) cannot hold: rename it to label it",
    )


def manifest_items(manifest, replacements=None):
    """The clips of a SpeechBrain CSV manifest (``ID``, ``wav``, ``duration``).

    ``$name`` placeholders in ``wav`` are replaced from ``replacements``
    (as SpeechBrain's ``load_data_csv`` does) for reading; the cache keeps
    them. Relative paths are read from the current directory, as in
    SpeechBrain. A missing ``duration`` is read from the file's header.
    A row whose ID or ``wav`` holds a line break is not refused with the
    whole manifest: it becomes a clip whose ``problem`` says so (ID and
    ``wav`` escaped by :func:`printable`), reported in the errors file.

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
    AudioItem(id='u1', wav='$root/u1.wav', path='/data/u1.wav', \
duration=2.5, problem='')
    """
    path = Path(manifest)
    try:
        stream = open(path, newline="", encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise FileNotFoundError(f"manifest {path} does not exist") from None
    except PermissionError:
        raise PermissionError(f"manifest {path}: permission denied") from None
    replacements = dict(replacements or {})
    items, seen = [], set()
    try:
        with stream:
            reader = csv.DictReader(stream, skipinitialspace=True)
            columns = reader.fieldnames or []
            missing = [c for c in ("ID", "wav") if c not in columns]
            if missing:
                raise ValueError(
                    f"manifest {path} lacks the column(s) "
                    f"{', '.join(missing)} "
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
                unsafe = [
                    (what, reason)
                    for what, value in (("ID", clip_id), ("wav", wav))
                    if (reason := _unsafe_text(value)) is not None
                ]
                if unsafe:
                    items.append(_refused(clip_id, wav, wav, *unsafe[0]))
                    continue
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
                    duration = (
                        float(text) if text else _header_duration(resolved)
                    )
                except ValueError:
                    raise ValueError(
                        f"{where}: duration {text!r} is not a number"
                    ) from None
                items.append(AudioItem(clip_id, wav, resolved, duration))
    except UnicodeDecodeError as error:
        raise ValueError(
            f"manifest {path} is not UTF-8 text ({error.reason} at byte "
            f"{error.start})"
        ) from None
    return items


def _header_duration(path):
    """Seconds from the file's header; 0 for a file that cannot be read."""
    try:
        return audio_info(path)["duration"]
    except AudioError:
        return 0.0  # labelling it will report why


def folder_items(folder):
    """The audio files under ``folder`` (recursive, sorted) as clips.

    The ID is the path relative to ``folder`` without its extension (with
    the extension when two files differ only by it); ``wav`` is absolute.
    A subfolder that cannot be listed becomes a clip of its own (ID: its
    relative path and ``/``) whose ``problem`` says so, and so does a file
    whose name holds a line break or bytes that are not UTF-8 (ID and
    ``wav`` escaped by :func:`printable`): both are reported in the errors
    file, and every other file is labelled.

    Raises
    ------
    FileNotFoundError
        ``folder`` does not exist.
    AudioError
        ``folder`` itself cannot be listed.

    Example
    -------
    >>> import tempfile, soundfile
    >>> folder = tempfile.mkdtemp()
    >>> soundfile.write(os.path.join(folder, "a.flac"), np.zeros(800), 8000)
    >>> soundfile.write(os.path.join(folder, "b\\n.wav"), np.ones(80), 8000)
    >>> [(item.id, item.duration) for item in folder_items(folder)]
    [('a', 0.1), ('b\\\\n', 0.0)]
    """
    files, unreadable = scan_audio_folder(folder)
    relative = [os.path.relpath(f, folder).replace(os.sep, "/") for f in files]
    stems = [os.path.splitext(r)[0] for r in relative]
    clashes = {s for s in stems if stems.count(s) > 1}
    items = []
    for path, rel, stem in zip(files, relative, stems, strict=True):
        clip_id = rel if stem in clashes else stem
        absolute = os.path.abspath(path)
        reason = _unsafe_text(absolute)
        if reason is not None:
            items.append(
                _refused(clip_id, absolute, absolute, "file name", reason)
            )
            continue
        items.append(
            AudioItem(clip_id, absolute, absolute, _header_duration(path))
        )
    for error in unreadable:
        rel = os.path.relpath(error.path, folder).replace(os.sep, "/")
        absolute = os.path.abspath(error.path)
        items.append(
            AudioItem(
                printable(rel + "/"),
                printable(absolute + os.sep),
                absolute,
                0.0,
                error.reason,
            )
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


class ClipDataset(Dataset):
    """Reads, checks and resamples one clip; errors become results.

    Arguments
    ---------
    items : list of AudioItem
        The clips.
    min_samples : int
        Fewer samples (at 16 kHz) than the teacher needs: an error.

    Example
    -------
    >>> import tempfile, soundfile
    >>> path = os.path.join(tempfile.mkdtemp(), "mute.wav")
    >>> soundfile.write(path, np.zeros(1600), 16000)
    >>> ClipDataset([AudioItem("mute", path, path, 0.1)], 400)[0]
    (0, 'silent (every sample is zero)')
    """

    def __init__(self, items, min_samples):
        self.items = items
        self.min_samples = min_samples

    def __len__(self):
        """The number of clips."""
        return len(self.items)

    def __getitem__(self, index):
        """``(index, samples)``, or ``(index, reason)`` for an unusable
        file."""
        item = self.items[index]
        if item.problem:
            return index, item.problem
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


def collate_clips(results):
    """Pads the readable clips; keeps (index, reason) of the others.

    Arguments
    ---------
    results : list of tuple
        ``(index, samples or reason)`` from :class:`ClipDataset`.

    Returns
    -------
    tuple
        ``(indices, wavs [batch, time], lengths [batch], failed)``:
        relative lengths (float64) of the readable clips, and the
        ``(index, reason)`` of the others.

    Example
    -------
    >>> good, wavs, lengths, failed = collate_clips(
    ...     [(0, np.ones(4, "float32")), (1, "empty"), (2, np.ones(2, "f"))])
    >>> good, wavs.shape, lengths.tolist(), failed
    ([0, 2], torch.Size([2, 4]), [1.0, 0.5], [(1, 'empty')])
    """
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
