"""Wall-time measurement and the machine it ran on.

One home for the figures that compare models by speed: the median of
repeated runs after a warm-up (:func:`timed_runs`), the machine's
one-thread matrix-product rate (:func:`matmul_gflops`), which says how fast
the machine is (two CPUs can differ by 2x on the same model), and the CPU's
name (:func:`cpu_model`). ``benchmarks/inference.py`` and the recipes'
students table both use them.

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib
import os
import platform
import statistics
import time

import torch

from speechbrain_wav2small.dataio.loading import usable_cores


def timed_runs(run, min_runs, max_runs, budget_seconds):
    """Median and all times (s) of ``run()`` after one warm-up call.

    Runs at least ``min_runs`` and at most ``max_runs`` times, and stops
    between the two once ``budget_seconds`` have passed.

    Arguments
    ---------
    run : callable
        Called without arguments.
    min_runs, max_runs : int
        Bounds on the number of timed runs.
    budget_seconds : float
        Time after which no run beyond ``min_runs`` starts.

    Returns
    -------
    median : float
        The median time in seconds.
    times : list of float
        Every timed run's seconds.

    Example
    -------
    >>> median, times = timed_runs(lambda: None, 3, 5, budget_seconds=0.0)
    >>> len(times), median >= 0
    (3, True)
    """
    run()
    times = []
    started = time.perf_counter()
    while len(times) < max_runs and (
        len(times) < min_runs or time.perf_counter() - started < budget_seconds
    ):
        begin = time.perf_counter()
        run()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), times


@contextlib.contextmanager
def torch_threads(count):
    """Runs the block with ``count`` PyTorch intra-op threads, then puts
    the previous number back.

    Arguments
    ---------
    count : int
        Threads inside the block.

    Example
    -------
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def matmul_gflops(size=512, repeats=5):
    """The machine's one-thread float32 matrix-product rate, GFLOP/s.

    The best of ``repeats`` products of two ``size`` x ``size`` matrices
    in PyTorch on one thread, after a warm-up (one multiply-accumulate is
    two FLOPs). Small enough to take well under a second; a figure to
    compare machines by, not a peak (``benchmarks/inference.py`` measures
    that with larger products and three libraries).

    Arguments
    ---------
    size : int
        Side of the square matrices.
    repeats : int
        Timed products; the fastest counts.

    Returns
    -------
    float
        Billions of floating-point operations per second.

    Example
    -------
    >>> matmul_gflops(size=64, repeats=2) > 0
    True
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    with torch_threads(1):
        a @ b
        best = float("inf")
        for _ in range(repeats):
            begin = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - begin)
    return 2 * size**3 / best / 1e9


def cpu_model():
    """The CPU's model name from ``/proc/cpuinfo``, or ``None``.

    Example
    -------
    >>> name = cpu_model()
    >>> name is None or isinstance(name, str)
    True
    """
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return None


def machine_info():
    """What a speed figure needs beside it: CPU, cores, one-thread rate.

    Returns
    -------
    dict
        ``cpu`` (model name, or the platform's processor string),
        ``cores`` (logical CPUs of the machine), ``usable_cores`` (those
        this process may run on), ``platform``, ``torch`` (version) and
        ``matmul_gflops_1_thread`` (:func:`matmul_gflops`).

    Example
    -------
    >>> info = machine_info()
    >>> info["cores"] >= info["usable_cores"] >= 1
    True
    """
    return {
        "cpu": cpu_model() or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "matmul_gflops_1_thread": round(matmul_gflops(), 1),
    }
