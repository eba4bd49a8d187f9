"""The pseudo-labeller: a teacher's arousal, dominance and valence for every
clip of a corpus, into a label cache (see
:mod:`speechbrain_wav2small.labelling.cache`).

Guarantees:

* **resumable**: each process journals its rows after every batch. A run
  killed at any point (even SIGKILL) and started again drops a torn last
  line, skips every clip already labelled (or already listed as an error:
  delete the errors file to try those again) and labels only the rest.
  The final files are replaced atomically, so they are never torn.
* **stale-safe**: the sidecar is written before the first label. A cache
  whose sidecar names another teacher fingerprint or another precision, or
  a file at ``--out`` without a sidecar, is refused; ``overwrite=True``
  starts it afresh.
* **one run per cache**: a run holds an exclusive lock on the cache
  (``LABELS.csv.lock``, :func:`~speechbrain_wav2small.labelling.cache.
  cache_lock`) from start to finish; a second run on the same cache,
  from any process, is refused at once with
  :class:`~speechbrain_wav2small.labelling.cache.CacheLockedError` naming
  the first one's pid. It does not wait: run it again once the first is
  done, and it labels whatever is left.
* **complete means complete**: the sidecar says ``complete: true`` only
  when every clip asked for has a row in the labels or in the errors.
* **mixed precision**: ``precision="bf16"`` or ``"fp16"`` runs the teacher
  under ``torch.autocast`` on its device, with SpeechBrain's run-option
  names and its refusal of fp16 on the CPU; labels are written as float32.
* **multi-process**: under ``torchrun`` every rank labels its share of the
  work (largest first, dealt round-robin), writes its own journal, and
  rank 0 merges them in input order. The result equals a single-process run
  up to float rounding in padded batches.
* **robust**: missing, unreadable (permission denied), empty, silent,
  NaN/Inf or too-short files, subfolders that cannot be listed and file
  names the cache cannot hold (a line break, bytes that are not UTF-8)
  are listed with the reason in the errors file and the run continues.

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib
import time

import torch
from speechbrain.utils.autocast import AMPConfig, TorchAutocast
from speechbrain.utils.distributed import ddp_barrier, ddp_broadcast
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.labelling.cache import (
    CacheLockedError,
    PrecisionMismatchError,
    StaleCacheError,
    build_sidecar,
    cache_lock,
    cache_paths,
    start_cache,
)
from speechbrain_wav2small.labelling.journal import (
    done_ids,
    finish_cache,
    open_journal,
)
from speechbrain_wav2small.labelling.sources import (
    ClipDataset,
    collate_clips,
    duration_batches,
    folder_items,
    manifest_items,
)
from speechbrain_wav2small.teachers.fingerprint import teacher_fingerprint
from speechbrain_wav2small.utils.distributed import (
    rank_and_world,
    sum_over_ranks,
)

#: Precision names, as SpeechBrain's ``--precision`` run option spells them.
PRECISIONS = ("fp32", "bf16", "fp16")


def check_precision(precision, device):
    """Refuses an unknown precision, and fp16 on the CPU (as SpeechBrain).

    :class:`speechbrain.core.Brain` refuses ``--precision=fp16`` on the
    CPU with a ``ValueError`` and points to bf16; the labeller does the
    same, at construction, before any audio is read.

    Arguments
    ---------
    precision : str
        ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    device : torch.device or str
        Where the teacher runs.

    Returns
    -------
    torch.dtype
        The autocast dtype (``torch.float32``: no autocast).

    Raises
    ------
    ValueError
        Unknown name, or fp16 on a CPU device.

    Example
    -------
    >>> check_precision("bf16", "cpu")
    torch.bfloat16
    >>> check_precision("fp16", "cpu")
    Traceback (most recent call last):
     ...
    ValueError: The option `--precision` is set to fp16. This option is ...
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"Specified precision ({precision}) incorrect, expected one of "
            "`fp32`, `fp16`, `bf16`."
        )
    if precision == "fp16" and torch.device(device).type == "cpu":
        # Brain's own message, less its --eval_precision.
        raise ValueError(
            "The option `--precision` is set to fp16. This option is not "
            "yet supported on CPU. Please use `--precision=bf16` instead "
            "to enable mixed precision on CPU."
        )
    return AMPConfig.from_name(precision).dtype


def _module_device(module):
    """Device of a module's first parameter (or buffer); CPU if none."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def _format_label(value):
    """9 significant digits: every float32 reads back exactly."""
    return format(value, ".9g")


def _format_duration(samples):
    """Seconds at 16 kHz, rounded to the microsecond."""
    return repr(round(samples / SAMPLE_RATE, 6))


class PseudoLabeller:
    """Labels clips with a teacher into a resumable, stale-safe cache.

    Arguments
    ---------
    teacher : torch.nn.Module
        ``teacher(wavs [batch, time], lengths [batch]) -> [batch, 3]``,
        e.g. from :func:`speechbrain_wav2small.teachers.load_teacher`.
    batch_seconds : float
        Padded seconds of audio per batch (memory and speed knob).
    max_batch_size : int
        At most this many clips per batch.
    device : str, optional
        Where to run the teacher (moved there); default: where it is.
    num_workers : int
        DataLoader workers reading audio (0: read in this process).
    progress : bool
        Show a progress bar (rank 0 only).
    precision : str
        ``"fp32"`` (default), ``"bf16"`` or ``"fp16"``: the teacher runs
        under ``torch.autocast`` with that dtype on its device type (the
        names of SpeechBrain's ``--precision``). fp16 on a CPU device is
        refused with a ``ValueError``, as SpeechBrain does. Recorded in the
        cache's sidecar: a cache is only resumed at its own precision.

    Example
    -------
    >>> import os, tempfile, numpy, soundfile
    >>> from speechbrain_wav2small.teachers import build_teacher
    >>> folder = tempfile.mkdtemp()
    >>> tone = numpy.sin(numpy.arange(16000) / 5.0) * 0.1
    >>> soundfile.write(os.path.join(folder, "tone.wav"), tone, 16000)
    >>> soundfile.write(os.path.join(folder, "mute.wav"), tone * 0, 16000)
    >>> labeller = PseudoLabeller(build_teacher("dawn"), progress=False)
    >>> out = os.path.join(folder, "labels.csv")
    >>> summary = labeller.label(folder_items(folder), out)
    >>> summary["labelled"], summary["errors"]
    (1, 1)
    >>> open(out).readline().strip()
    'ID,wav,duration,arousal,dominance,valence'
    >>> open(cache_paths(out)["errors"]).read().splitlines()[1].endswith(
    ...     "silent (every sample is zero)")
    True
    """

    def __init__(
        self,
        teacher,
        batch_seconds=120.0,
        max_batch_size=32,
        device=None,
        num_workers=0,
        progress=True,
        precision="fp32",
    ):
        if batch_seconds <= 0:
            raise ValueError(f"batch_seconds must be > 0, not {batch_seconds}")
        self.device = (
            torch.device(device)
            if device is not None
            else _module_device(teacher)
        )
        # Checked before the teacher moves: a refusal leaves it untouched.
        self.autocast_dtype = check_precision(precision, self.device)
        self.precision = precision
        self.teacher = teacher if device is None else teacher.to(device)
        self.batch_seconds = float(batch_seconds)
        self.max_batch_size = max_batch_size
        self.num_workers = num_workers
        self.progress = progress

    def label_manifest(self, manifest, out, replacements=None, **kwargs):
        """Labels a SpeechBrain CSV manifest (see :func:`manifest_items`)."""
        items = manifest_items(manifest, replacements)
        return self.label(items, out, **kwargs)

    def label_folder(self, folder, out, **kwargs):
        """Labels every audio file under a folder (see :func:`folder_items`)."""
        return self.label(folder_items(folder), out, **kwargs)

    def label(self, items, out, overwrite=False):
        """Labels whatever in ``items`` the cache ``out`` does not hold yet.

        Every rank of a ``torchrun`` job calls this with the same items
        and shares the work; called inside SpeechBrain's ``run_on_main``,
        rank 0 labels everything alone.

        Arguments
        ---------
        items : list of AudioItem
            The clips (unique IDs).
        out : str or os.PathLike
            The label cache CSV; its sidecar and errors file sit next to it.
        overwrite : bool
            Delete an existing cache (of any teacher) and start afresh.

        Returns
        -------
        dict
            ``labelled``, ``errors`` (this run), ``already_done``,
            ``audio_seconds``, ``wall_seconds``, ``teacher_seconds`` (time
            in the teacher's forward, summed over processes),
            ``clips_per_second``, ``audio_seconds_per_second`` and the
            three file paths.

        Raises
        ------
        StaleCacheError
            ``out`` holds labels of another teacher, or of an unknown one,
            or was labelled at another precision.
        CacheLockedError
            Another run is labelling ``out`` (nothing is touched).
        """
        started = time.perf_counter()
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate clip IDs: {duplicates[:5]}")
        paths = cache_paths(out)
        rank, world = rank_and_world()
        self.teacher.eval()
        sidecar = build_sidecar(
            self.teacher, teacher_fingerprint(self.teacher), self.precision
        )

        # Rank 0 holds the cache's lock for the whole run; the other ranks
        # of the same job never take it, so they cannot wait on it.
        with contextlib.ExitStack() as lock:
            problem, pending = None, None
            if rank == 0:
                try:
                    lock.enter_context(cache_lock(out))
                    pending = self._start(items, paths, sidecar, overwrite)
                except (
                    CacheLockedError,
                    StaleCacheError,
                    ValueError,
                    OSError,
                ) as error:
                    problem = error
            # Every rank must learn about a refusal, or the others would
            # wait for rank 0 forever.
            problem, pending = ddp_broadcast((problem, pending))
            if problem is not None:
                raise problem
            already_done = len(items) - len(pending)
            by_size = sorted(pending, key=lambda i: (-items[i].duration, i))
            mine = by_size[rank::world]
            counters = self._label_share(items, mine, paths, rank)
            ddp_barrier()
            if rank == 0:
                try:
                    finish_cache(paths, ids, sidecar)
                except (ValueError, OSError) as error:
                    problem = error
            problem = ddp_broadcast(problem)
            if problem is not None:
                raise problem
        labelled, errors, seconds, teacher_seconds = sum_over_ranks(counters)
        wall = time.perf_counter() - started
        return {
            "labelled": int(labelled),
            "errors": int(errors),
            "already_done": already_done,
            "audio_seconds": seconds,
            "wall_seconds": wall,
            # Summed over processes: the time the teacher itself took.
            "teacher_seconds": teacher_seconds,
            "clips_per_second": labelled / wall,
            "audio_seconds_per_second": seconds / wall,
            "labels_file": str(paths["labels"]),
            "errors_file": str(paths["errors"]),
            "sidecar_file": str(paths["sidecar"]),
        }

    def _start(self, items, paths, sidecar, overwrite):
        """Starts (or resumes) the cache; positions of the clips to label.

        A cache made at another precision is refused unless it holds
        every clip already: it is then used as it was made.
        """
        try:
            start_cache(paths, sidecar, overwrite)
            mismatch = None
        except PrecisionMismatchError as error:
            mismatch = error
        done = done_ids(paths)
        pending = [i for i, item in enumerate(items) if item.id not in done]
        if mismatch is not None:
            # Labels of two precisions are never mixed, but a cache with
            # nothing left to label is used as it was made.
            if pending:
                raise mismatch
            sidecar["precision"] = mismatch.recorded
            start_cache(paths, sidecar, overwrite)
        return pending

    def _batches(self, items, mine):
        """Batches of ``items`` positions, for the teacher's window."""
        batches = duration_batches(
            [items[i].duration for i in mine],
            self.batch_seconds,
            self.max_batch_size,
            getattr(self.teacher, "max_window_seconds", None),
        )
        return [[mine[j] for j in batch] for batch in batches]

    def _forward(self, wavs, lengths):
        """The teacher's float32 outputs on the CPU."""
        # The batch enters in float32 and autocast lowers what it should
        # (SpeechBrain's TorchAutocast is a no-op for fp32).
        autocast = TorchAutocast(
            device_type=self.device.type, dtype=self.autocast_dtype
        )
        with torch.inference_mode(), autocast:
            outputs = self.teacher(
                wavs.to(self.device), lengths.to(self.device)
            )
        # Written as float32 whatever the precision; .cpu() waits for the
        # device, so a timing around it is complete.
        return outputs.float().cpu()

    def _label_share(self, items, mine, paths, rank):
        """Labels ``items[i] for i in mine`` into this rank's journals."""
        loader = DataLoader(
            ClipDataset(items, self.teacher.min_samples),
            batch_sampler=self._batches(items, mine),
            collate_fn=collate_clips,
            num_workers=self.num_workers,
        )
        labelled = failed = 0
        seconds = teacher_seconds = 0.0
        bar = tqdm(
            total=len(mine),
            unit="clip",
            desc="labelling",
            disable=not self.progress or rank != 0,
            dynamic_ncols=True,
        )
        with (
            open_journal(paths, rank, "labels") as journal,
            open_journal(paths, rank, "errors") as errors,
        ):
            for good, wavs, lengths, bad in loader:
                rows = []
                error_rows = [
                    (items[i].id, items[i].wav, reason) for i, reason in bad
                ]
                if good:
                    forward_started = time.perf_counter()
                    outputs = self._forward(wavs, lengths)
                    teacher_seconds += time.perf_counter() - forward_started
                    counts = torch.round(lengths * wavs.shape[1]).long()
                    for index, values, count in zip(
                        good, outputs, counts, strict=True
                    ):
                        item = items[index]
                        if not torch.isfinite(values).all():
                            error_rows.append(
                                (item.id, item.wav, "teacher output is NaN/Inf")
                            )
                            continue
                        rows.append(
                            [item.id, item.wav, _format_duration(int(count))]
                            + [_format_label(v) for v in values.tolist()]
                        )
                        seconds += int(count) / SAMPLE_RATE
                journal.append(rows)
                errors.append(error_rows)
                labelled += len(rows)
                failed += len(error_rows)
                bar.update(len(rows) + len(error_rows))
        bar.close()
        return [labelled, failed, seconds, teacher_seconds]


def throughput_line(summary):
    """One line: clips/s and seconds of audio per second of wall time.

    Example
    -------
    >>> line = throughput_line({"labelled": 10, "errors": 1,
    ...     "audio_seconds": 30.0, "wall_seconds": 2.0,
    ...     "clips_per_second": 5.0, "audio_seconds_per_second": 15.0})
    >>> head, rates = line.split(": ")
    >>> head
    'labelled 10 clips (30.0 s of audio, 1 errors) in 2.0 s'
    >>> rates
    '5.00 clips/s, 15.0 audio s/s'
    """
    return (
        f"labelled {summary['labelled']} clips "
        f"({summary['audio_seconds']:.1f} s of audio, {summary['errors']} "
        f"errors) in {summary['wall_seconds']:.1f} s: "
        f"{summary['clips_per_second']:.2f} clips/s, "
        f"{summary['audio_seconds_per_second']:.1f} audio s/s"
    )
