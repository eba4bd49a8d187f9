"""Peak memory of streaming Wav2Small inference against the whole clip.

Run from the repository root::

    .venv/bin/python benchmarks/streaming_memory.py \
        --out benchmarks/results/streaming_memory.json

or from Python (``benchmarks`` is not a package)::

    sys.path.insert(0, "benchmarks")
    import streaming_memory
    report = streaming_memory.measure(durations=(10, 60))

For every duration a 16 kHz int16 WAV of speech-like audio (the recordings
of ``tests/data`` tiled with random gains over a little noise) is written in
blocks to a temporary folder, so the audio is never held whole here, and
one Wav2Small (11K, ``build_student("wav2small")``, random weights, which
do not change the cost) predicts it in a fresh subprocess:

* ``streaming``: :meth:`StreamingWav2Small.predict_file`, which reads the
  file in blocks;
* ``whole_clip``: ``read_audio`` then ``model(wav[None])``; reading the
  audio into memory is part of its cost and is also reported on its own.

Each child builds the model and runs a 1 s warm-up of its mode (lazy kernel
and thread-pool set-up, the same for any length), then resets its peak
resident set (``VmHWM``, by writing ``5`` to ``/proc/self/clear_refs``) and
reports the peak's growth over the resident set at that point. Where the
reset is refused, ``ru_maxrss`` minus the resident set after set-up is
reported instead, which overstates the growth if importing torch peaked
higher (the JSON says which method ran). The streaming and whole-clip
outputs of each duration are compared, too.

The children run with glibc's mmap threshold fixed at 64 KiB
(``MALLOC_MMAP_THRESHOLD_``), so that every block of 64 KiB or more goes
back to the system when freed and the resident set follows the live
allocations. With glibc's default, dynamic threshold, freed blocks stay in
the heap and the peak of the very same 10 s stream varies by several MB
between runs, noise larger than what is measured; the streaming runs of
``default_allocator_durations`` are repeated under that default and
reported beside them (add 3600 for the hour). The fixed
threshold costs time, not memory: every large temporary is a fresh mapping,
which about doubles the streaming time.

Target: the streaming peak at the longest duration is within 10% (or 2 MB)
of its peak at the shortest. The Wav2Small paper reports about 9 MB of RAM
for the model at inference, shown for comparison.
"""

import argparse
import gc
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from speechbrain_wav2small import SAMPLE_RATE

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = REPO / "tests" / "data"
SOURCES = (
    "ASR_spk1_snt1.wav",
    "ASR_spk1_snt2.wav",
    "ASR_spk1_snt3.wav",
    "ASR_spk2_snt1.wav",
    "ASR_spk2_snt2.wav",
    "ASR_spk2_snt3.wav",
)
#: The Wav2Small paper's RAM figure for the model at inference, in MB.
PAPER_RAM_MB = 9.0
MB = 2**20


def write_speech_wav(path, seconds, seed=0, block_seconds=10):
    """Writes ``seconds`` of speech-like 16 kHz int16 audio block by block.

    Recordings follow each other in random order with random gains over
    low noise, so no stretch is digital silence or a repeated block.

    Arguments
    ---------
    path : str or pathlib.Path
        The WAV file to write.
    seconds : float
        Duration.
    seed : int
        Seed of the order, gains and noise.
    block_seconds : int
        Seconds generated and written at a time.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "speech.wav"
    >>> write_speech_wav(path, 1.5)
    >>> sf.info(str(path)).frames
    24000
    """
    clips = [sf.read(DATA / name, dtype="float32")[0] for name in SOURCES]
    rng = np.random.default_rng(seed)
    remaining = int(round(seconds * SAMPLE_RATE))
    block_size = block_seconds * SAMPLE_RATE
    with sf.SoundFile(
        str(path), "w", SAMPLE_RATE, 1, subtype="PCM_16", format="WAV"
    ) as stream:
        while remaining:
            pieces, size = [], min(block_size, remaining)
            filled = 0
            while filled < size:
                clip = clips[rng.integers(len(clips))]
                piece = clip[: size - filled] * rng.uniform(0.1, 2.0)
                pieces.append(piece)
                filled += len(piece)
            block = np.concatenate(pieces)
            block += rng.normal(0.0, 1e-3, size).astype(np.float32)
            stream.write(np.clip(block, -1.0, 1.0))
            remaining -= size


def _status_kb(field):
    """A ``/proc/self/status`` field's value in kB."""
    with open("/proc/self/status") as stream:
        return int(re.search(rf"{field}:\s+(\d+)", stream.read()).group(1))


def _reset_peak():
    """Resets VmHWM to the current RSS; returns the method used."""
    try:
        with open("/proc/self/clear_refs", "w") as stream:
            stream.write("5")
        return "VmHWM after clear_refs"
    except OSError:
        return "ru_maxrss minus RSS after setup"


def _peak_kb(method):
    """The process's peak RSS in kB, read as ``method`` says."""
    if method.startswith("VmHWM"):
        return _status_kb("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(mode, path, chunk_seconds):
    """One measurement in this (fresh) process; returns a dict."""
    import torch

    from speechbrain_wav2small.dataio.audio import read_audio
    from speechbrain_wav2small.inference.streaming import StreamingWav2Small
    from speechbrain_wav2small.students import build_student

    torch.manual_seed(0)
    model = build_student("wav2small").eval()
    streamer = StreamingWav2Small(model, chunk_seconds=chunk_seconds)
    warm_up = torch.randn(SAMPLE_RATE)
    with torch.no_grad():
        if mode == "streaming":
            streamer.predict_chunks(lambda: [warm_up])
        else:
            model(warm_up[None])
    gc.collect()
    method = _reset_peak()
    setup_kb = _status_kb("VmRSS")
    started = time.perf_counter()
    result = {"mode": mode, "method": method}
    if mode == "streaming":
        output = streamer.predict_file(path)
    else:
        wav = read_audio(path)
        result["audio_mb"] = wav.nbytes / MB
        result["read_peak_mb"] = (_peak_kb(method) - setup_kb) / 1024
        held_kb = _status_kb("VmRSS") - setup_kb
        with torch.no_grad():
            output = model(torch.from_numpy(wav)[None])[0]
        # The model's own share: the peak beyond the audio it holds.
        result["model_peak_mb"] = (_peak_kb(method) - setup_kb - held_kb) / 1024
    result["seconds_taken"] = time.perf_counter() - started
    result["peak_mb"] = (_peak_kb(method) - setup_kb) / 1024
    result["setup_rss_mb"] = setup_kb / 1024
    result["output"] = output.tolist()
    return result


#: glibc's mmap threshold in the children (see the module docstring).
MMAP_THRESHOLD = 65536


def _run_child(mode, path, chunk_seconds, threads, fixed_threshold=True):
    """Runs :func:`_child` in a fresh process; returns its result dict."""
    environment = dict(os.environ)
    environment.pop("MALLOC_MMAP_THRESHOLD_", None)
    if fixed_threshold:
        environment["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
    if threads:
        environment["OMP_NUM_THREADS"] = str(threads)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        str(path),
        "--chunk-seconds",
        str(chunk_seconds),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=environment, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{mode} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(
    durations=(10, 60, 600, 3600),
    whole_clip_durations=(10, 60, 600),
    default_allocator_durations=(10, 600),
    chunk_seconds=1.0,
    threads=1,
    folder=None,
):
    """Peak RSS growth of streaming and whole-clip inference per duration.

    Arguments
    ---------
    durations : sequence of float
        Seconds of audio for streaming inference.
    whole_clip_durations : sequence of float
        Seconds of audio for whole-clip inference (it needs memory in
        proportion: about 8 GB per hour on top of the audio).
    default_allocator_durations : sequence of float
        Streaming durations measured again under glibc's default malloc
        settings (noisier, see the module docstring).
    chunk_seconds : float
        ``StreamingWav2Small`` step.
    threads : int or None
        ``OMP_NUM_THREADS`` of the children (1: an edge device's budget,
        and no barrier stalls on a shared machine); None keeps torch's.
    folder : str, optional
        Where the temporary WAVs go (default: the system's temp folder).

    Returns
    -------
    dict
        ``rows`` (one per duration), ``target``, ``passed`` and the set-up.
    """
    rows = []
    with tempfile.TemporaryDirectory(dir=folder) as temporary:
        all_durations = (
            set(durations)
            | set(whole_clip_durations)
            | set(default_allocator_durations)
        )
        for seconds in sorted(all_durations):
            path = Path(temporary) / f"speech_{seconds}s.wav"
            write_speech_wav(path, seconds)
            row = {"seconds": seconds, "file_mb": path.stat().st_size / MB}
            try:
                if seconds in durations:
                    row["streaming"] = _run_child(
                        "streaming", path, chunk_seconds, threads
                    )
                if seconds in whole_clip_durations:
                    row["whole_clip"] = _run_child(
                        "whole_clip", path, chunk_seconds, threads
                    )
                if seconds in default_allocator_durations:
                    row["streaming_default_allocator"] = _run_child(
                        "streaming", path, chunk_seconds, threads, False
                    )
            finally:
                path.unlink()
            if "streaming" in row and "whole_clip" in row:
                streaming = row["streaming"]["peak_mb"]
                whole = row["whole_clip"]["peak_mb"]
                row["streaming_over_whole_clip"] = streaming / whole
                row["max_abs_output_difference"] = float(
                    np.abs(
                        np.subtract(
                            row["streaming"]["output"],
                            row["whole_clip"]["output"],
                        )
                    ).max()
                )
            rows.append(row)
    streamed = [row for row in rows if "streaming" in row]
    target = (
        "streaming peak at the longest duration within 10% (or 2 MB) of "
        "its peak at the shortest"
    )
    passed = None
    if len(streamed) >= 2:
        first = streamed[0]["streaming"]["peak_mb"]
        last = streamed[-1]["streaming"]["peak_mb"]
        passed = last <= max(1.1 * first, first + 2.0)
    return {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
        },
        "options": {
            "model": "wav2small (build_student, random weights)",
            "chunk_seconds": chunk_seconds,
            "threads": threads,
            "malloc_mmap_threshold": MMAP_THRESHOLD,
        },
        "paper_ram_mb": PAPER_RAM_MB,
        "rows": rows,
        "target": target,
        "passed": passed,
    }


def markdown_table(report):
    """The report as a markdown table, with the PASS/MISS line.

    Arguments
    ---------
    report : dict
        The result of :func:`measure`.

    Returns
    -------
    str
        The table, the paper's figure and the verdict.

    Example
    -------
    >>> report = {
    ...     "rows": [
    ...         {"seconds": 10, "streaming": {"peak_mb": 3, "seconds_taken": 1}}
    ...     ],
    ...     "paper_ram_mb": 9.0,
    ...     "target": "flat memory",
    ...     "passed": None,
    ... }
    >>> markdown_table(report).splitlines()[-1]
    'n/a: flat memory'
    """
    lines = [
        "| audio | streaming peak MB | streaming, default malloc MB "
        "| whole-clip peak MB | reading audio MB | whole-clip model MB "
        "| streaming / whole | max abs diff | streaming s | whole s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(row, mode, key, form="{:.1f}"):
        """``row[mode][key]`` formatted, or ``-`` when ``mode`` did not run."""
        return form.format(row[mode][key]) if mode in row else "-"

    for row in report["rows"]:
        ratio = row.get("streaming_over_whole_clip")
        difference = row.get("max_abs_output_difference")
        lines.append(
            f"| {row['seconds']:g} s "
            f"| {cell(row, 'streaming', 'peak_mb')} "
            f"| {cell(row, 'streaming_default_allocator', 'peak_mb')} "
            f"| {cell(row, 'whole_clip', 'peak_mb')} "
            f"| {cell(row, 'whole_clip', 'read_peak_mb')} "
            f"| {cell(row, 'whole_clip', 'model_peak_mb')} "
            f"| {'-' if ratio is None else f'{ratio:.4f}'} "
            f"| {'-' if difference is None else f'{difference:.1e}'} "
            f"| {cell(row, 'streaming', 'seconds_taken')} "
            f"| {cell(row, 'whole_clip', 'seconds_taken')} |"
        )
    lines.append(
        f"\nPaper (Wav2Small): about {report['paper_ram_mb']:g} MB of RAM "
        "at inference."
    )
    verdict = {True: "PASS", False: "MISS", None: "n/a"}[report["passed"]]
    lines.append(f"{verdict}: {report['target']}")
    return "\n".join(lines)


def parse_args(argv=None):
    """Command-line options (``--child`` runs one measurement).

    Arguments
    ---------
    argv : list of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    argparse.Namespace
        The options.

    Example
    -------
    >>> parse_args(["--durations", "10", "60"]).durations
    [10.0, 60.0]
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--durations", nargs="+", type=float, default=[10, 60, 600, 3600]
    )
    parser.add_argument(
        "--whole-clip-durations", nargs="+", type=float, default=[10, 60, 600]
    )
    parser.add_argument(
        "--default-allocator-durations",
        nargs="*",
        type=float,
        default=[10, 600],
    )
    parser.add_argument("--chunk-seconds", type=float, default=1.0)
    parser.add_argument(
        "--threads", type=int, default=1, help="0 keeps torch's default"
    )
    parser.add_argument("--out", help="JSON file for the report")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _whole_seconds(values):
    """Whole numbers as ints (10.0 -> 10), for file names and the table."""
    return [int(v) if float(v).is_integer() else v for v in values]


def main(argv=None):
    """Measures, prints the table, writes the JSON.

    With ``--child MODE PATH`` it runs one measurement in this process
    instead and prints its JSON line.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        The exit status (0).
    """
    args = parse_args(argv)
    if args.child:
        mode, path = args.child
        print(json.dumps(_child(mode, path, args.chunk_seconds)))
        return 0
    started = time.perf_counter()
    report = measure(
        _whole_seconds(args.durations),
        _whole_seconds(args.whole_clip_durations),
        _whole_seconds(args.default_allocator_durations),
        chunk_seconds=args.chunk_seconds,
        threads=args.threads or None,
    )
    report["wall_seconds"] = time.perf_counter() - started
    print(markdown_table(report))
    print(f"({report['wall_seconds']:.0f} s)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as stream:
            json.dump(report, stream, indent=2)
            stream.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
