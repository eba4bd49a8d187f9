"""SpeechBrain data pipelines shared by the teacher and distillation recipes.

Audio goes through :func:`speechbrain_wav2small.dataio.audio.read_audio` (any
format, rate and channel count); labels become float32 vectors in the order
of :data:`speechbrain_wav2small.DIMENSIONS`.

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv
import logging
import os
from pathlib import Path

import speechbrain as sb
import torch

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import read_audio

logger = logging.getLogger(__name__)


def audio_pipeline(max_seconds=None, random_crop=False):
    """A dynamic item ``wav -> sig``: float32 mono 16 kHz samples.

    Arguments
    ---------
    max_seconds : float, optional
        Longer clips are cropped to this many seconds.
    random_crop : bool
        Crop at a random offset (training) rather than the start.

    Example
    -------
    >>> pipeline = audio_pipeline(max_seconds=1.0)
    >>> pipeline("tests/data/ASR_spk1_snt1.wav").shape
    torch.Size([16000])
    """
    max_samples = (
        None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    )

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def read(wav):
        samples = torch.from_numpy(read_audio(wav))
        if max_samples is not None and samples.shape[0] > max_samples:
            start = 0
            if random_crop:
                high = samples.shape[0] - max_samples + 1
                start = int(torch.randint(high, (1,)))
            samples = samples[start : start + max_samples]
        return samples

    return read


def label_pipeline(provides="targets"):
    """A dynamic item: label columns (arousal, dominance, valence) -> float32
    [3], under the name ``provides``.

    Human labels in a prepared manifest are ``targets``; teacher labels in a
    label cache are ``teacher_targets``.

    Example
    -------
    >>> pipeline = label_pipeline("teacher_targets")
    >>> pipeline("0.5", "0.25", "1.0")
    tensor([0.5000, 0.2500, 1.0000])
    """

    @sb.utils.data_pipeline.takes(*DIMENSIONS)
    @sb.utils.data_pipeline.provides(provides)
    def labels(*values):
        return torch.tensor([float(v) for v in values], dtype=torch.float32)

    return labels


def teacher_lookup_pipeline(label_cache):
    """A dynamic item ``id -> teacher_targets`` from a label cache.

    Arguments
    ---------
    label_cache : dict
        As returned by :func:`speechbrain_wav2small.labelling.read_label_cache`.
    """
    labels = {
        utterance_id: torch.tensor(entry["labels"], dtype=torch.float32)
        for utterance_id, entry in label_cache["labels"].items()
    }

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("teacher_targets")
    def lookup(utterance_id):
        return labels[utterance_id]

    return lookup


def merge_label_caches(caches, out_csv, exclude_podcasts=()):
    """Concatenates label caches into one training CSV.

    Rows whose podcast id (second ``_`` token of an MSP-style ID) is in
    ``exclude_podcasts`` are dropped, so extra audio cannot leak test
    podcasts into training. Duplicate IDs keep their first occurrence.

    Returns
    -------
    dict
        Counts: ``kept``, ``excluded`` and ``duplicates``.
    """
    exclude_podcasts = set(exclude_podcasts)
    seen, rows = set(), []
    counts = {"kept": 0, "excluded": 0, "duplicates": 0}
    for cache in caches:
        with open(cache, newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                if row["ID"] in seen:
                    counts["duplicates"] += 1
                    continue
                seen.add(row["ID"])
                if msp_podcast_id(row["ID"]) in exclude_podcasts:
                    counts["excluded"] += 1
                    continue
                rows.append(
                    {k: row[k] for k in ("ID", "wav", "duration", *DIMENSIONS)}
                )
    counts["kept"] = len(rows)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{out_csv}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(
            stream, fieldnames=["ID", "wav", "duration", *DIMENSIONS]
        )
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out_csv)
    return counts


def msp_podcast_id(utterance_id):
    """Podcast id of an MSP-style ID (``MSP-PODCAST_0153_0024`` -> 0153),
    or an empty string for other names.

    Example
    -------
    >>> msp_podcast_id("MSP-PODCAST_0153_0024"), msp_podcast_id("clip7")
    ('0153', '')
    """
    parts = Path(utterance_id).stem.split("_")
    if len(parts) >= 3 and parts[0].upper().startswith("MSP"):
        return parts[1]
    return ""


def podcasts_in(manifests):
    """The set of podcast ids in the ``podcast`` column of manifests."""
    podcasts = set()
    for manifest in manifests:
        if not manifest or not os.path.isfile(manifest):
            continue
        with open(manifest, newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                if row.get("podcast"):
                    podcasts.add(row["podcast"])
    return podcasts
