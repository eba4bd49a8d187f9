"""One training CSV from several label caches (and labelled manifests).

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv

from speechbrain_wav2small.labelling.cache import LABEL_COLUMNS, read_label_rows
from speechbrain_wav2small.utils.durable import atomic_write_csv


def _manifest_rows(manifest):
    """The label columns of every row of a SpeechBrain CSV manifest."""
    with open(manifest, newline="", encoding="utf-8") as stream:
        return [
            {column: row[column] for column in LABEL_COLUMNS}
            for row in csv.DictReader(stream)
        ]


def merge_label_caches(caches, out_csv, exclude=None, manifests=()):
    """Concatenates label caches into one training CSV.

    Duplicate IDs keep their first occurrence; rows for which ``exclude``
    says so are dropped (e.g. extra audio that must not leak test speakers
    into training). The result is a SpeechBrain CSV manifest with the
    columns :data:`~speechbrain_wav2small.labelling.cache.LABEL_COLUMNS`.

    Arguments
    ---------
    caches : list of str or os.PathLike
        Label caches, read with the checks of
        :func:`~speechbrain_wav2small.labelling.cache.read_label_rows`
        (sidecar present, labelling run complete).
    out_csv : str or os.PathLike
        The training CSV, replaced durably.
    exclude : callable, optional
        ``exclude(utterance_id) -> bool``: True leaves the row out.
    manifests : list of str or os.PathLike
        SpeechBrain CSV manifests that hold the label columns but are no
        label cache (e.g. human labels); their rows come first.

    Returns
    -------
    dict
        Counts: ``kept``, ``excluded`` and ``duplicates``.

    Example
    -------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> manifest = os.path.join(folder, "train.csv")
    >>> _ = open(manifest, "w").write(
    ...     "ID,wav,duration,arousal,dominance,valence,speaker\\n"
    ...     "a,a.wav,1.0,0.1,0.2,0.3,s1\\n"
    ...     "test_b,b.wav,1.0,0.1,0.2,0.3,s2\\n"
    ...     "a,c.wav,1.0,0.1,0.2,0.3,s3\\n")
    >>> merge_label_caches([], os.path.join(folder, "set.csv"),
    ...     exclude=lambda i: i.startswith("test_"), manifests=[manifest])
    {'kept': 1, 'excluded': 1, 'duplicates': 1}
    """
    sources = [_manifest_rows(manifest) for manifest in manifests]
    sources += [read_label_rows(cache)[1] for cache in caches]
    seen, rows = set(), []
    counts = {"kept": 0, "excluded": 0, "duplicates": 0}
    for row in (row for source in sources for row in source):
        if row["ID"] in seen:
            counts["duplicates"] += 1
            continue
        seen.add(row["ID"])
        if exclude is not None and exclude(row["ID"]):
            counts["excluded"] += 1
            continue
        rows.append(row)
    counts["kept"] = len(rows)
    atomic_write_csv(out_csv, LABEL_COLUMNS, rows)
    return counts
