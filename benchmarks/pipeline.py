"""Throughput of the pipeline around the models, against the models alone.

Run from the repository root::

    .venv/bin/python benchmarks/pipeline.py \
        --out benchmarks/results/pipeline.json

Each section measures one stage of the pipeline on one synthetic corpus of
real recordings (built from ``tests/data`` in a temporary folder) and
compares it with the bare model work it wraps, on the same clips and the
same batches. Sections so far:

* ``pseudo_labelling``: the whole labelling run (:class:`PseudoLabeller`:
  fingerprint, planning, reading and resampling audio, teacher forward,
  journals with fsync, merge) against the bare teacher forward over the
  very batches the labeller plans, audio already in memory. Target: the
  labeller keeps at least 85% of the bare forward's throughput.

The teacher is a random-weight stand-in of Dawn's architecture (weights do
not change the cost): mid-size by default so the run takes a couple of
minutes on two CPU cores, the real dimensions (12 layers, 1024 wide) with
``--full``. Bare and pipeline runs alternate ``--repeats`` times and the
best run of each is compared (the least disturbed by other processes on a
shared machine); the teacher's share of each labelling run's own wall time
is reported too, as a check immune to load changing between runs.

To add a section (e.g. distillation steps per second against bare student
forward/backward), write ``def section(args, corpus) -> dict`` returning
``{"rows": [(name, value, unit), ...], "target": str, "passed": bool}`` and
register it in :data:`SECTIONS`.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from speechbrain_wav2small.audio import read_audio, resample  # noqa: E402
from speechbrain_wav2small.labelling import (  # noqa: E402
    PseudoLabeller,
    duration_batches,
    folder_items,
)
from speechbrain_wav2small.teachers import (  # noqa: E402
    backbone_config,
    build_teacher,
)

DATA = REPO / "tests" / "data"
SOURCES = (
    "ASR_spk1_snt1.wav",
    "ASR_spk1_snt3.wav",
    "ASR_spk2_snt1.wav",
    "TTS_LJ050-0131.wav",
)

#: Mid-size stand-in: 4 transformer layers x 384 on a 256-channel conv
#: front end (the real 512-channel one alone costs about 2 s per 10 s of
#: audio on one of these cores, which --full measures).
MID_SIZE = {
    "hidden_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 6,
    "intermediate_size": 1536,
    "conv_dim": [256] * 7,
}


def build_corpus(folder, n_clips, seed=0):
    """``n_clips`` WAV files of 2-12 s cut from real speech.

    Most are 16 kHz mono like MSP-Podcast; every fourth is written at
    22.05 kHz stereo, so reading includes resampling and mix-down.
    """
    speech = np.concatenate([read_audio(DATA / name) for name in SOURCES])
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(n_clips):
        seconds = rng.uniform(2.0, 12.0)
        size = int(seconds * 16000)
        start = int(rng.integers(0, len(speech) - size))
        clip = speech[start : start + size]
        path = folder / f"clip{index:03d}.wav"
        if index % 4 == 3:
            wide = resample(clip, 16000, 22050)
            sf.write(path, np.stack([wide, wide], axis=1), 22050)
        else:
            sf.write(path, clip, 16000)
    return folder_items(folder)


def _bare_forward(teacher, batches):
    started = time.perf_counter()
    with torch.inference_mode():
        for wavs, lengths in batches:
            teacher(wavs, lengths)
    return time.perf_counter() - started


def pseudo_labelling(args, corpus):
    """Labeller wall time vs bare teacher forward on the same batches."""
    config = backbone_config("dawn", **({} if args.full else MID_SIZE))
    teacher = build_teacher("dawn", config=config, seed=0)
    labeller = PseudoLabeller(
        teacher,
        batch_seconds=args.batch_seconds,
        max_batch_size=args.max_batch_size,
        num_workers=args.num_workers,
        progress=False,
    )
    items = corpus["items"]
    plan = duration_batches(
        [item.duration for item in items],
        args.batch_seconds,
        args.max_batch_size,
        teacher.max_window_seconds,
    )
    # The bare forward gets the labeller's batches, decoded beforehand.
    audio = [torch.from_numpy(read_audio(item.path)) for item in items]
    batches = []
    for batch in plan:
        clips = [audio[i] for i in batch]
        longest = max(len(c) for c in clips)
        wavs = torch.zeros(len(clips), longest)
        for row, clip in enumerate(clips):
            wavs[row, : len(clip)] = clip
        counts = torch.tensor([len(c) for c in clips], dtype=torch.float64)
        batches.append((wavs, counts / longest))
    audio_seconds = sum(len(a) for a in audio) / 16000

    _bare_forward(teacher, batches[:1])  # warm-up
    bare_times, pipeline_times, teacher_shares = [], [], []
    out = corpus["folder"].parent / "labels.csv"

    def label():
        summary = labeller.label(items, out, overwrite=True)
        assert summary["labelled"] == len(items), summary
        pipeline_times.append(summary["wall_seconds"])
        teacher_shares.append(
            summary["teacher_seconds"] / summary["wall_seconds"]
        )

    for repeat in range(args.repeats):
        # Alternate the order so that drifting load favours neither.
        if repeat % 2:
            label()
            bare_times.append(_bare_forward(teacher, batches))
        else:
            bare_times.append(_bare_forward(teacher, batches))
            label()
    # Best of N estimates each cost with the least interference from other
    # processes; the in-run share (teacher time / wall time of the same
    # labelling run) is immune to load drift between runs.
    bare, pipeline = min(bare_times), min(pipeline_times)
    ratio = bare / pipeline
    share = statistics.median(teacher_shares)
    size = (
        f"{config.num_hidden_layers} layers x {config.hidden_size}, "
        f"conv {config.conv_dim[0]}"
    )
    n_clips = len(items)
    return {
        "rows": [
            ("teacher", f"Dawn architecture, {size}, random weights", ""),
            ("clips", n_clips, ""),
            ("audio", round(audio_seconds, 1), "s"),
            ("batches", len(plan), ""),
            ("bare forward", round(n_clips / bare, 2), "clips/s"),
            ("bare forward", round(audio_seconds / bare, 1), "audio s/s"),
            ("labelling", round(n_clips / pipeline, 2), "clips/s"),
            ("labelling", round(audio_seconds / pipeline, 1), "audio s/s"),
            ("labelling / bare", round(ratio, 3), "best of runs"),
            ("teacher share", round(share, 3), "of labelling wall time"),
        ],
        "bare_seconds": bare_times,
        "pipeline_seconds": pipeline_times,
        "teacher_share_of_wall": teacher_shares,
        "target": "labelling throughput >= 85% of the bare teacher forward",
        "passed": ratio >= 0.85,
    }


#: Section name -> function(args, corpus) -> result dict.
SECTIONS = {"pseudo_labelling": pseudo_labelling}


def parse_args(argv=None):
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS
    )
    parser.add_argument("--full", action="store_true", help="real Dawn size")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch_seconds", type=float, default=60.0)
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--num_workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/pipeline.json"
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Runs the sections, prints the table, writes the JSON."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    workspace = Path(tempfile.mkdtemp(prefix="wav2small-bench-"))
    try:
        items = build_corpus(workspace / "corpus", args.clips)
        corpus = {"folder": workspace / "corpus", "items": items}
        results = {name: SECTIONS[name](args, corpus) for name in args.sections}
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    for name, result in results.items():
        print(f"\n== {name} ==")
        for label, value, unit in result["rows"]:
            print(f"{label:<20} {value!s:>12} {unit}")
        verdict = "PASS" if result["passed"] else "MISS"
        print(f"{verdict}: {result['target']}")
    report = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "options": {k: str(v) for k, v in vars(args).items()},
        "sections": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten {args.out}")
    return 0 if all(r["passed"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
