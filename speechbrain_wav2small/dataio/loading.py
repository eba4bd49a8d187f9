"""Data loader workers chosen from the cores this process may use.

A training step of these models is convolution work that PyTorch spreads
over every core (one intra-op thread per core), while reading and cropping
a batch of WAV files costs a few milliseconds. Loader workers then buy
little and cost a lot on a small machine: each worker wakes beside the
step's threads and takes a core from them, and a parallel region waits for
its slowest thread. On 2 cores, ``benchmarks/pipeline.py`` measured 2
workers at two thirds of the step rate of no worker (Wav2Small, cached
targets). Larger machines have cores to spare for decoding (and
compressed audio or on-the-fly resampling cost more), so they get a
worker per four cores, at most :data:`MAX_LOADER_WORKERS`.

Authors
 * speechbrain-wav2small contributors 2026
"""

import os

#: Workers beyond this only add start-up time and memory for WAV crops.
MAX_LOADER_WORKERS = 4

#: Below this many cores, audio is read in the training process.
MIN_CORES_FOR_WORKERS = 4


def usable_cores():
    """The CPUs this process may run on (its affinity, else all).

    Returns
    -------
    int
        At least 1.

    Example
    -------
    >>> usable_cores() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def loader_workers(cores=None, max_workers=MAX_LOADER_WORKERS):
    """Dataloader workers for reading audio beside training on ``cores``.

    Arguments
    ---------
    cores : int, optional
        Cores available (default: :func:`usable_cores`).
    max_workers : int
        Upper bound.

    Returns
    -------
    int
        0 below :data:`MIN_CORES_FOR_WORKERS` cores (read in the training
        process), else one worker per four cores, at most ``max_workers``.

    Example
    -------
    >>> loader_workers(cores=2), loader_workers(cores=8), loader_workers(64)
    (0, 2, 4)
    """
    cores = usable_cores() if cores is None else cores
    if cores < MIN_CORES_FOR_WORKERS:
        return 0
    return min(max_workers, cores // 4)
