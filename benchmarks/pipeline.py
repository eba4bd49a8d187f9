"""Throughput of the pipeline around the models, against the models alone.

Run from the repository root (all sections take a few minutes on two CPU
cores; ``--sections NAME`` runs one)::

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
* ``distillation``: training steps of :class:`DistillationBrain` (Wav2Small
  11K student) configured by the recipe's ``distill.yaml`` (batch size,
  crops, augmentation and mixup, dataloader workers) on data built by the
  recipe's own ``write_training_set`` and ``dataio_prepare``, with targets
  from a label cache written by :class:`PseudoLabeller` against the
  teacher labelling every batch on the fly. Both runs reseed alike, so
  they see the same crops, augmentations and batches; the first epoch
  warms up and is not timed, validation is left out; rates come from each
  run's best epoch, the cached/on-the-fly ratio from the median of the
  per-epoch ratios (epoch i does the same work in both). The data wait is
  the epoch loop's time outside ``fit_batch`` (the dataloader's
  ``next()``, worker start and shutdown included); the cached run is
  repeated with the audio read in the training process (0 workers).
  Target: the cached run waits for data at most 15% of its loop time.
  Loader workers running beside the step can also slow the step itself
  on a small machine, which the wait share cannot see: compare the two
  cached runs for that.
* ``training_speed``: Wav2Small training from cached labels with the
  recipe as it is against the recipe before its throughput work (2 loader
  workers whatever the machine, random batches, SpeechBrain's
  ``DropFreq``), same clips, same seeds. Target: at least 1.5x the audio
  seconds per wall second.

The teacher is a random-weight stand-in of Dawn's architecture (weights do
not change the cost): mid-size by default so the run stays short on two
CPU cores, the real dimensions (12 layers, 1024 wide) with ``--full``.
Labelling: bare and pipeline runs alternate ``--repeats`` times and the
best run of each is compared (the least disturbed by other processes on a
shared machine); the teacher's share of each labelling run's own wall time
is reported too, as a check immune to load changing between runs.

To add a section, write ``def section(args, corpus) -> dict`` returning
``{"rows": [(name, value, unit), ...], "target": str, "passed": bool}`` and
register it in :data:`SECTIONS`.
"""

import argparse
import importlib.util
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
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.augment import time_domain

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from speechbrain_wav2small import SAMPLE_RATE  # noqa: E402
from speechbrain_wav2small.dataio.audio import read_audio, resample  # noqa: E402
from speechbrain_wav2small.labelling import (  # noqa: E402
    PseudoLabeller,
    duration_batches,
    folder_items,
)
from speechbrain_wav2small.teachers import (  # noqa: E402
    backbone_config,
    build_teacher,
)
from speechbrain_wav2small.training.augment import DropFreq  # noqa: E402

DATA = REPO / "tests" / "data"
DISTILL_RECIPE = REPO / "recipes" / "MSP-Podcast" / "distill"
# The Brain lives in the recipe's train.py, as in every SpeechBrain recipe.
sys.path.insert(0, str(DISTILL_RECIPE))
from train import DistillationBrain  # noqa: E402

SOURCES = (
    "ASR_spk1_snt1.wav",
    "ASR_spk1_snt3.wav",
    "ASR_spk2_snt1.wav",
    "TTS_LJ050-0131.wav",
)

#: The distillation recipe's loader workers before they were chosen from
#: the machine's cores (speechbrain_wav2small/dataio/loading.py).
BEFORE_NUM_WORKERS = 2

#: Target of the ``training_speed`` section: audio seconds trained per
#: wall second, recipe now over the recipe before the throughput work.
SPEEDUP_TARGET = 1.5

#: Mid-size stand-in: 4 transformer layers x 384 on a 256-channel conv
#: front end, so that a run stays short on a small CPU (the real front end
#: has 512 channels, about four times the convolution work; --full measures
#: it).
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

    Arguments
    ---------
    folder : pathlib.Path
        Where the WAV files go (created).
    n_clips : int
        Number of clips.
    seed : int
        Seed of the lengths and start points.

    Returns
    -------
    list
        The labeller's items for the folder (``folder_items``).

    Example
    -------
    >>> import tempfile
    >>> items = build_corpus(Path(tempfile.mkdtemp()) / "corpus", 2)
    >>> len(items), all(2.0 <= item.duration <= 12.0 for item in items)
    (2, True)
    """
    speech = np.concatenate([read_audio(DATA / name) for name in SOURCES])
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(n_clips):
        seconds = rng.uniform(2.0, 12.0)
        size = int(seconds * SAMPLE_RATE)
        start = int(rng.integers(0, len(speech) - size))
        clip = speech[start : start + size]
        path = folder / f"clip{index:03d}.wav"
        if index % 4 == 3:
            wide = resample(clip, SAMPLE_RATE, 22050)
            sf.write(path, np.stack([wide, wide], axis=1), 22050)
        else:
            sf.write(path, clip, SAMPLE_RATE)
    return folder_items(folder)


def _bare_forward(teacher, batches):
    """Seconds the teacher takes over ``batches`` of in-memory audio."""
    started = time.perf_counter()
    with torch.inference_mode():
        for wavs, lengths in batches:
            teacher(wavs, lengths)
    return time.perf_counter() - started


def pseudo_labelling(args, corpus):
    """Labeller wall time vs bare teacher forward on the same batches.

    Arguments
    ---------
    args : argparse.Namespace
        Options of :func:`parse_args` (teacher size, batching, repeats).
    corpus : dict
        ``folder`` and ``items`` of :func:`build_corpus`.

    Returns
    -------
    dict
        ``rows``, the raw times, ``target`` and ``passed``.
    """
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
    audio_seconds = sum(len(a) for a in audio) / SAMPLE_RATE

    _bare_forward(teacher, batches[:1])  # warm-up
    bare_times, pipeline_times, teacher_shares = [], [], []
    out = corpus["folder"].parent / "labels.csv"

    def label():
        """One labelling run; records its wall time and teacher share."""
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


def _distill_recipe():
    """The distillation recipe's ``train.py`` as a module (its run is
    guarded by ``__main__``), so the benchmark builds its data the same way.
    """
    spec = importlib.util.spec_from_file_location(
        "distill_recipe", DISTILL_RECIPE / "train.py"
    )
    recipe = importlib.util.module_from_spec(spec)
    # No __pycache__ left in the recipe folders of the checkout.
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(recipe)
    finally:
        sys.dont_write_bytecode = dont_write
    return recipe


class _TimedDistillationBrain(DistillationBrain):
    """DistillationBrain that notes when each training epoch starts and
    ends and when each ``fit_batch`` runs; training itself is unchanged.

    In SpeechBrain 1.1.2's ``Brain._fit_train`` the only work of the epoch
    loop outside ``fit_batch`` is the dataloader's ``next()`` (worker start
    on the first one, worker shutdown on the last) and a few bookkeeping
    lines, so the loop time minus ``fit_batch`` time is the data wait.
    """

    def __init__(self, *args, **kwargs):
        """As :class:`DistillationBrain`; starts with no epoch records."""
        super().__init__(*args, **kwargs)
        self.epochs = []

    def on_stage_start(self, stage, epoch=None):
        """Opens the epoch's record before the loader's first ``next()``."""
        super().on_stage_start(stage, epoch)
        if stage == sb.Stage.TRAIN:
            self.epochs.append({"start": time.perf_counter(), "steps": []})

    def fit_batch(self, batch):
        """Times the step: forward, backward and optimizer."""
        started = time.perf_counter()
        loss = super().fit_batch(batch)
        self.epochs[-1]["steps"].append((started, time.perf_counter()))
        return loss

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Closes the epoch's record after the loader is exhausted."""
        if stage == sb.Stage.TRAIN:
            self.epochs[-1]["end"] = time.perf_counter()
        super().on_stage_end(stage, stage_loss, epoch)


def _epoch_times(record):
    """Loop, step and data-wait seconds of one recorded epoch.

    ``first_wait`` is the wait for the epoch's first batch (starting the
    workers), ``tail`` the time from the last step to the end of the loop
    (the loader's final ``next()`` and worker shutdown); both are paid once
    per epoch, so a real epoch of thousands of steps hides them.
    """
    steps = record["steps"]
    previous = [record["start"]] + [end for _, end in steps[:-1]]
    waits = [
        start - before
        for (start, _), before in zip(steps, previous, strict=True)
    ]
    loop = record["end"] - record["start"]
    step = sum(end - start for start, end in steps)
    return {
        "steps": len(steps),
        "loop": loop,
        "step": step,
        "wait": loop - step,
        "first_wait": waits[0],
        "tail": record["end"] - steps[-1][1],
    }


def _with_speechbrain_drop_freq(augmenter):
    """Puts SpeechBrain's own ``DropFreq`` back in place of the recipe's
    (same settings), as the recipe had it before the throughput work."""
    for name, module in augmenter.augmentations.items():
        if isinstance(module, DropFreq):
            augmenter.augmentations[name] = time_domain.DropFreq(
                drop_freq_low=module.drop_freq_low,
                drop_freq_high=module.drop_freq_high,
                drop_freq_count_low=module.drop_freq_count_low,
                drop_freq_count_high=module.drop_freq_count_high,
                drop_freq_width=module.drop_freq_width,
                epsilon=module.epsilon,
            )


def _write_label_caches(teacher, workspace, items):
    """The label caches the distillation runs read, written by
    :class:`PseudoLabeller` with the recipe's ``label_batch_seconds``;
    returns the seconds the Train cache took."""
    labels = workspace / "distill" / "labels"
    labeller = PseudoLabeller(teacher, batch_seconds=120.0, progress=False)
    started = time.perf_counter()
    labeller.label(items, labels / "Train.csv", overwrite=True)
    seconds = time.perf_counter() - started
    # dataio_prepare also builds the valid and test sets, which read this
    # cache; fit() never touches them.
    labeller.label(items[:2], labels / "Development.csv", overwrite=True)
    return seconds


def _distill_run(
    args, recipe, workspace, targets, teacher, num_workers, before=False
):
    """One recipe-configured training run; per-epoch timings, warm-up
    epoch dropped. ``before``: the recipe's loading and augmentation as
    they were before the throughput work (:data:`BEFORE_NUM_WORKERS`
    workers, random batches, SpeechBrain's ``DropFreq``)."""
    overrides = {
        "data_folder": str(workspace),
        "output_folder": str(workspace / "distill"),
        "student": "wav2small",
        "targets": targets,
        "number_of_epochs": args.epochs + 1,  # the first one warms up
        "test_split": "Development",
        "exclude_test_podcasts": False,
    }
    if args.no_augment:
        overrides.update(augment_prob=0.0, mixup_prob=0.0)
    # Loading the YAML reseeds every generator and builds a fresh student,
    # so both target modes see the same crops, augmentations and batches.
    with open(DISTILL_RECIPE / "hparams" / "distill.yaml") as stream:
        hparams = load_hyperpyyaml(stream, overrides)
    label_folder = Path(hparams["label_folder"])
    manifests = {
        "Train": str(label_folder / "Train.csv"),
        "Development": str(label_folder / "Development.csv"),
    }
    if before:
        _with_speechbrain_drop_freq(hparams["wav_augment"])
        hparams["dynamic_batching"] = False
        num_workers = BEFORE_NUM_WORKERS
    recipe.write_training_set(hparams, manifests)
    train_set, _, _ = recipe.dataio_prepare(hparams, manifests)
    brain = _TimedDistillationBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu", "noprogressbar": True},
        teacher=teacher if targets == "on_the_fly" else None,
    )
    loader_opts = recipe.train_loader_options(brain, train_set, hparams)
    if num_workers is not None:
        loader_opts["num_workers"] = num_workers
    # Training only: validation is not part of the step throughput.
    brain.fit(
        hparams["epoch_counter"],
        train_set,
        train_loader_kwargs=loader_opts,
    )
    epochs = [_epoch_times(record) for record in brain.epochs[1:]]
    total = {
        key: sum(epoch[key] for epoch in epochs)
        for key in ("steps", "loop", "step", "wait", "first_wait", "tail")
    }
    return {
        "num_workers": loader_opts["num_workers"],
        "batch_size": hparams["batch_size"],
        "epochs": epochs,
        **total,
        "hparams": hparams,
    }


def distillation(args, corpus):
    """Distillation steps from cached labels vs teacher on the fly.

    Arguments
    ---------
    args : argparse.Namespace
        Options of :func:`parse_args` (teacher size, epochs, augmentation).
    corpus : dict
        ``folder`` and ``items`` of :func:`build_corpus`.

    Returns
    -------
    dict
        ``rows``, the per-run timings, ``target`` and ``passed``.
    """
    recipe = _distill_recipe()
    config = backbone_config("dawn", **({} if args.full else MID_SIZE))
    teacher = build_teacher("dawn", config=config, seed=0)
    workspace = corpus["folder"].parent
    items = corpus["items"]
    labelling_seconds = _write_label_caches(teacher, workspace, items)

    cached = _distill_run(args, recipe, workspace, "cache", None, None)
    on_the_fly = _distill_run(
        args, recipe, workspace, "on_the_fly", teacher, None
    )
    runs = {"cached": cached, "on the fly": on_the_fly}
    if cached["num_workers"] != 0:
        # The same cached run with the audio read in the training process.
        runs["cached, 0 workers"] = _distill_run(
            args, recipe, workspace, "cache", None, 0
        )
    hparams = cached.pop("hparams")
    for run in runs.values():
        run.pop("hparams", None)

    # The audio the student trains on per epoch: each clip random-cropped
    # to the recipe's max_train_seconds.
    crop = hparams["max_train_seconds"]
    epoch_audio = sum(min(item.duration, crop) for item in items)
    augment = (
        "off (--no_augment)"
        if args.no_augment
        else f"recipe defaults (p={hparams['augment_prob']}, "
        f"mixup p={hparams['mixup_prob']})"
    )
    size = (
        f"{config.num_hidden_layers} layers x {config.hidden_size}, "
        f"conv {config.conv_dim[0]}"
    )
    rows = [
        ("teacher", f"Dawn architecture, {size}, random weights", ""),
        ("student", "wav2small", ""),
        ("clips", len(items), ""),
        ("audio per epoch", round(epoch_audio, 1), f"s (crops <= {crop} s)"),
        ("batch size", cached["batch_size"], ""),
        ("epochs", args.epochs, "timed, after 1 warm-up"),
        ("augmentation", augment, ""),
        ("labels cache", round(labelling_seconds, 1), "s, written once"),
    ]
    # Rates from each run's best epoch, the least disturbed by other
    # processes on a shared machine; every epoch trains on the same clips
    # in the same number of steps.
    for name, run in runs.items():
        loop = min(epoch["loop"] for epoch in run["epochs"])
        steps = run["steps"] / len(run["epochs"])
        run["best_epoch_seconds"] = loop
        rows += [
            (name, run["num_workers"], "dataloader workers"),
            (name, round(steps / loop, 3), "steps/s, best epoch"),
            (name, round(epoch_audio / loop, 1), "audio s/s, best epoch"),
            (name, round(run["wait"] / run["loop"], 3), "waiting for data"),
        ]
    # Epoch i does the same work in both runs (same seeds): the median of
    # the per-pair ratios discounts epochs that other processes slowed.
    speedup = statistics.median(
        fly["loop"] / cache["loop"]
        for fly, cache in zip(
            on_the_fly["epochs"], cached["epochs"], strict=True
        )
    )
    share = cached["wait"] / cached["loop"]
    # Worker start and shutdown come once per epoch; here an epoch is a
    # couple of steps, on MSP-Podcast thousands, so show them apart.
    steady = (cached["wait"] - cached["first_wait"] - cached["tail"]) / (
        cached["loop"] - cached["first_wait"] - cached["tail"]
    )
    rows += [
        ("cached / on the fly", round(speedup, 2), "x, median epoch pair"),
        ("cached wait", round(share, 3), "of training-loop time"),
        ("cached wait", round(steady, 3), "between worker start and stop"),
    ]
    return {
        "rows": rows,
        "runs": runs,
        "labelling_seconds": labelling_seconds,
        "target": (
            "distillation from cached labels spends <= 15% of its step "
            "time waiting for data"
        ),
        "passed": share <= 0.15,
    }


def training_speed(args, corpus):
    """Wav2Small training throughput: the recipe now against the recipe
    before its throughput work, in one run on the same clips.

    Both runs train from one label cache with the recipe's ``distill.yaml``
    (8 s crops, augmentation and mixup unless ``--no_augment``), reseeded
    alike. Before: :data:`BEFORE_NUM_WORKERS` loader workers, random
    batches and SpeechBrain's ``DropFreq``; now: workers from the machine's
    cores, length-bucketed batches and the recipe's ``DropFreq``. The rate
    of each run is its best epoch's (the least disturbed by other
    processes); the median of the per-epoch ratios is reported beside it.

    Arguments
    ---------
    args : argparse.Namespace
        Options of :func:`parse_args`.
    corpus : dict
        ``folder`` and ``items`` of :func:`build_corpus`.

    Returns
    -------
    dict
        ``rows``, the per-run timings, ``target`` and ``passed``.
    """
    recipe = _distill_recipe()
    workspace = corpus["folder"].parent
    items = corpus["items"]
    config = backbone_config("dawn", **MID_SIZE)
    teacher = build_teacher("dawn", config=config, seed=0)
    _write_label_caches(teacher, workspace, items)
    runs = {
        "before": _distill_run(
            args, recipe, workspace, "cache", None, None, before=True
        ),
        "now": _distill_run(args, recipe, workspace, "cache", None, None),
    }
    hparams = runs["now"]["hparams"]
    for run in runs.values():
        run.pop("hparams", None)
    crop = hparams["max_train_seconds"]
    epoch_audio = sum(min(item.duration, crop) for item in items)
    rates = {
        name: epoch_audio / min(epoch["loop"] for epoch in run["epochs"])
        for name, run in runs.items()
    }
    speedup = rates["now"] / rates["before"]
    pairs = statistics.median(
        before["loop"] / now["loop"]
        for before, now in zip(
            runs["before"]["epochs"], runs["now"]["epochs"], strict=True
        )
    )
    rows = [
        ("student", "wav2small", ""),
        ("audio per epoch", round(epoch_audio, 1), f"s (crops <= {crop} s)"),
        ("epochs", args.epochs, "timed, after 1 warm-up"),
        ("augmentation", "off" if args.no_augment else "recipe defaults", ""),
        ("before", BEFORE_NUM_WORKERS, "workers, random batches, SB DropFreq"),
        ("before", round(rates["before"], 1), "audio s/s, best epoch"),
        (
            "now",
            runs["now"]["num_workers"],
            "workers, length buckets, DropFreq",
        ),
        ("now", round(rates["now"], 1), "audio s/s, best epoch"),
        ("now / before", round(speedup, 2), "x, best epochs"),
        ("now / before", round(pairs, 2), "x, median epoch pair"),
    ]
    return {
        "rows": rows,
        "runs": runs,
        "audio_per_second": rates,
        "speedup": speedup,
        "target": (
            f"Wav2Small trains >= {SPEEDUP_TARGET}x the audio seconds per "
            "wall second of the recipe before its throughput work"
        ),
        "passed": speedup >= SPEEDUP_TARGET,
    }


#: Section name -> function(args, corpus) -> result dict.
SECTIONS = {
    "pseudo_labelling": pseudo_labelling,
    "distillation": distillation,
    "training_speed": training_speed,
}


def parse_args(argv=None):
    """Command-line options.

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
    >>> parse_args(["--sections", "pseudo_labelling"]).sections
    ['pseudo_labelling']
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS
    )
    parser.add_argument("--full", action="store_true", help="real Dawn size")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch_seconds", type=float, default=60.0)
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument(
        "--num_workers", type=int, default=0, help="labeller workers"
    )
    parser.add_argument(
        "--epochs", type=int, default=4, help="timed distillation epochs"
    )
    parser.add_argument(
        "--no_augment",
        action="store_true",
        help="distil without the recipe's augmentation and mixup",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/pipeline.json"
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Runs the sections, prints the table, writes the JSON.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        0 when every section passed its target, else 1.
    """
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
