"""Pseudo-labelling: a teacher's arousal, dominance and valence for every
clip of a corpus, cached on disk for the students to learn from.

* :mod:`~speechbrain_wav2small.labelling.sources`: the clips to label;
* :mod:`~speechbrain_wav2small.labelling.cache`: the label cache format;
* :mod:`~speechbrain_wav2small.labelling.labeller`: the labeller;
* :mod:`~speechbrain_wav2small.labelling.merge`: caches -> training CSV.
"""

from speechbrain_wav2small.labelling.cache import (
    CACHE_FORMAT,
    CACHE_VERSION,
    ERROR_COLUMNS,
    LABEL_COLUMNS,
    PrecisionMismatchError,
    StaleCacheError,
    cache_paths,
    read_label_cache,
    read_label_rows,
)
from speechbrain_wav2small.labelling.labeller import (
    PseudoLabeller,
    throughput_line,
)
from speechbrain_wav2small.labelling.merge import merge_label_caches
from speechbrain_wav2small.labelling.sources import (
    AudioItem,
    duration_batches,
    folder_items,
    manifest_items,
)
from speechbrain_wav2small.utils.distributed import init_distributed

__all__ = [
    "CACHE_FORMAT",
    "CACHE_VERSION",
    "ERROR_COLUMNS",
    "LABEL_COLUMNS",
    "AudioItem",
    "PseudoLabeller",
    "PrecisionMismatchError",
    "StaleCacheError",
    "cache_paths",
    "duration_batches",
    "folder_items",
    "init_distributed",
    "manifest_items",
    "merge_label_caches",
    "read_label_cache",
    "read_label_rows",
    "throughput_line",
]
