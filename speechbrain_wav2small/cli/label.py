"""Pseudo-label audio with a teacher into a resumable label cache.

Reads a SpeechBrain CSV manifest (ID, wav, duration) or every audio file
under a folder (any format soundfile reads, any rate, any channel count),
and writes LABELS.csv (ID, wav, duration, arousal, dominance, valence), its
sidecar LABELS.csv.teacher.json (the teacher's fingerprint) and
LABELS.errors.csv (files that could not be used, with the reason).

Run it again with the same --out to finish an interrupted run: only what is
missing is labelled. Several processes: torchrun --nproc_per_node=N -m
speechbrain_wav2small.cli label ... (gloo on CPU, nccl with --device cuda).

One run at a time per --out: a run holds an exclusive lock on
LABELS.csv.lock from start to finish (rank 0 under torchrun), and a second
run on the same --out exits at once with status 1, naming the first one's
pid, before it loads a teacher; it does not wait (run it again once the
first is done). Files and subfolders that cannot be read (permission
denied), and files whose name holds a line break, get a row in the errors
file while the others are labelled; the sidecar says complete only when
every file asked for has a row.

--precision bf16 (or fp16 on a GPU) runs the teacher under torch.autocast;
labels are still written as float32 and the sidecar records the precision,
so a cache is only resumed at the precision it was started with.
"""

import contextlib
import sys

import torch

from speechbrain_wav2small.dataio.audio import AudioError
from speechbrain_wav2small.labelling.cache import (
    CacheLockedError,
    StaleCacheError,
    cache_lock,
)
from speechbrain_wav2small.labelling.labeller import (
    PRECISIONS,
    PseudoLabeller,
    check_precision,
    throughput_line,
)
from speechbrain_wav2small.labelling.sources import (
    folder_items,
    manifest_items,
)
from speechbrain_wav2small.teachers.configs import TEACHERS
from speechbrain_wav2small.teachers.presets import load_teacher
from speechbrain_wav2small.utils.distributed import init_distributed


def add_arguments(parser):
    """Adds this subcommand's options."""
    parser.add_argument(
        "--teacher",
        required=True,
        help=f"teacher YAML, or one of: {', '.join(TEACHERS)}",
    )
    parser.add_argument(
        "--teacher_source",
        help="local folder or hub id (owner/name, or owner/name@REVISION "
        "for a branch, tag or commit) replacing the YAML's source; hub ids "
        "go to the huggingface_hub cache (HF_HOME, HF_HUB_CACHE) and are "
        "read from it with HF_HUB_OFFLINE=1",
    )
    parser.add_argument(
        "--teacher_overrides",
        help='hyperpyyaml overrides, e.g. "{max_window_seconds: 8}"',
    )
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--manifest", help="SpeechBrain CSV: ID, wav, duration")
    inputs.add_argument(
        "--audio-dir", "--audio_dir", dest="audio_dir", help="folder of audio"
    )
    parser.add_argument(
        "--data_root",
        help="value of $data_root placeholders in the manifest's wav column",
    )
    parser.add_argument(
        "--replace",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="value of another $NAME placeholder (repeatable)",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="label cache LABELS.csv; one run at a time: a second run on "
        "the same --out exits at once, naming the first one's pid "
        "(LABELS.csv.lock)",
    )
    parser.add_argument(
        "--batch_seconds",
        type=float,
        default=120.0,
        help="padded seconds of audio per batch (default: 120)",
    )
    parser.add_argument(
        "--max_batch_size",
        type=int,
        default=32,
        help="at most this many clips per batch (default: 32)",
    )
    parser.add_argument(
        "--num_workers",
        type=int,
        default=0,
        help="processes reading audio (default: 0, read in the main one)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1...")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="run the teacher under autocast: fp32 (default), bf16, or fp16 "
        "(not on CPU); labels are written as float32 either way, and a "
        "cache is only resumed at the precision it was started with",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an existing cache at --out and label everything again",
    )
    parser.add_argument(
        "--no_progress", action="store_true", help="no progress bar"
    )


def _load(args, device, rank):
    """The teacher, loaded by rank 0 first under ``torchrun``."""

    def load():
        """Loads the teacher in this process."""
        return load_teacher(
            args.teacher,
            source=args.teacher_source,
            device=device,
            overrides=args.teacher_overrides,
        )

    if rank is None:
        return load()
    # Rank 0 first, so that a hub download happens once; its failure is
    # sent to the others, which would otherwise wait for it forever.
    teacher, status = None, [None]
    if rank == 0:
        try:
            teacher = load()
        except (OSError, ValueError, KeyError) as error:
            status = [error]
    torch.distributed.broadcast_object_list(status, src=0)
    if status[0] is not None:
        raise status[0]
    return teacher if rank == 0 else load()


def _lock(out, rank):
    """The cache's lock, held by this process (rank 0 under ``torchrun``).

    Taken before a teacher is loaded, so that a second run on the same
    cache is refused at once; every rank learns of the refusal.
    """
    lock, problem = contextlib.ExitStack(), None
    if rank in (None, 0):
        try:
            lock.enter_context(cache_lock(out))
        except (CacheLockedError, OSError) as error:
            problem = error
    if rank is not None:
        status = [problem]
        torch.distributed.broadcast_object_list(status, src=0)
        problem = status[0]
    if problem is not None:
        lock.close()
        raise problem
    return lock


def _items(args, rank):
    """The clips to label, read once and shared under ``torchrun``."""

    def build():
        """The clips of the manifest or folder."""
        if args.manifest:
            return manifest_items(args.manifest, _replacements(args))
        return folder_items(args.audio_dir)

    if rank is None:
        return build()
    # One process reads every header; the others get the same list.
    payload = [None]
    if rank == 0:
        try:
            payload = [build()]
        except (OSError, ValueError) as error:
            payload = [error]
    torch.distributed.broadcast_object_list(payload, src=0)
    if isinstance(payload[0], Exception):
        raise payload[0]
    return payload[0]


def _replacements(args):
    """``$name`` placeholder values from ``--data_root`` and ``--replace``."""
    replacements = {"data_root": args.data_root} if args.data_root else {}
    for entry in args.replace:
        name, separator, value = entry.partition("=")
        if not separator or not name:
            raise ValueError(f"--replace wants NAME=VALUE, not {entry!r}")
        replacements[name] = value
    return replacements


def run(args):
    """Labels; returns the exit status (1 with a message on bad input)."""
    device = init_distributed(args.device)
    distributed = torch.distributed.is_initialized()
    rank = torch.distributed.get_rank() if distributed else None
    lock = contextlib.ExitStack()
    try:
        # Refused before a large teacher is loaded for nothing.
        check_precision(args.precision, device)
        lock = _lock(args.out, rank)
        teacher = _load(args, device, rank)
        items = _items(args, rank)
        labeller = PseudoLabeller(
            teacher,
            batch_seconds=args.batch_seconds,
            max_batch_size=args.max_batch_size,
            device=device,
            num_workers=args.num_workers,
            progress=not args.no_progress,
            precision=args.precision,
        )
        summary = labeller.label(items, args.out, overwrite=args.overwrite)
    except (
        CacheLockedError,
        StaleCacheError,
        OSError,
        ValueError,
        KeyError,
        AudioError,
    ) as error:
        print(f"wav2small label: error: {error}", file=sys.stderr)
        return 1
    finally:
        lock.close()
        if distributed:
            torch.distributed.destroy_process_group()
    if rank in (None, 0):
        if summary["already_done"]:
            print(f"{summary['already_done']} clips were already done")
        print(throughput_line(summary))
        print(f"labels: {summary['labels_file']}")
        print(
            f"errors: {summary['errors_file']} ({summary['errors']} this run)"
        )
    return 0
