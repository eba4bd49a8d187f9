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
    find_audio_files,
    read_audio,
)

_PLACEHOLDER = re.compile(r"\$([\w.]+)")


class AudioItem(NamedTuple):
    """One clip to label.

    ``wav`` is written to the cache as given (placeholders kept); ``path``
    is where the file is read from; ``duration`` (seconds, 0 when unknown)
    only serves to batch similar lengths together.

    Example
    -------
    >>> AudioItem("u1", "$root/u1.wav", "/data/u1.wav", 2.5).path
    '/data/u1.wav'
    """

    id: str
    wav: str
    path: str
    duration: float


def _check_text(value, what, where):
    """Refuses a value with a line break (it would break the cache CSV)."""
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
    """Seconds from the file's header; 0 for a file that cannot be read."""
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
    for path, rel, stem in zip(files, relative, stems, strict=True):
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
