"""The checks an export's files must pass before they are written, and
their audio.

1. :func:`check_parity`: onnxruntime float vs PyTorch, max absolute
   difference <= :data:`MAX_ABS_DIFF` at :data:`PARITY_SECONDS` and
   :data:`PARITY_BATCH_SIZES` (batches padded with relative lengths, up
   to :data:`PARITY_MAX_PADDED_SECONDS`), on the scores and on the
   embeddings (relative to their largest magnitude);
2. :func:`check_int8`: int8 vs float, CCC >= :data:`MIN_CCC` per dimension
   over held-out audio (:func:`held_out_items`), on the scores only: the
   int8 file's embeddings are its own.

A failed check raises :class:`ExportError`: for the float model nothing is
written; a failed int8 check (:class:`Int8GateError`, which carries its
figures) only keeps the int8 file out.

Authors
 * speechbrain-wav2small contributors 2026
"""

import logging
import math
import os

import numpy as np
import torch

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import find_audio_files, read_audio
from speechbrain_wav2small.dataio.reference_speech import (
    reference_speech_clips,
)
from speechbrain_wav2small.objectives import ccc
from speechbrain_wav2small.utils.model_files import (
    EMBEDDINGS_OUTPUT,
    LENGTHS_INPUT,
    OUTPUT_NAME,
    WAVS_INPUT,
)

logger = logging.getLogger(__name__)

#: Clip durations (s) and batch sizes of the float parity check, and its
#: tolerance (max absolute difference).
PARITY_SECONDS = (0.5, 3.0, 10.0, 30.0)
PARITY_BATCH_SIZES = (1, 3)
MAX_ABS_DIFF = 1e-4

#: Padded batches (more than one clip, so the masked path) are checked at
#: durations up to this (s); longer clips one at a time. The masked path
#: meets nothing at 30 s that 10 s has not shown (frame counts, sums over
#: time), while a padded 30 s batch took over half of the gate's time
#: (about 2 s of an 11K-parameter import) and GBs for a 72K student.
PARITY_MAX_PADDED_SECONDS = 10.0

#: Minimum int8-vs-float CCC, per dimension.
MIN_CCC = 0.999

#: Static int8 calibration: at most about this much held-out speech (s).
#: The calibration runs the float graph unoptimised, both paths, with
#: every activation reduced to its range (about 40 ms per second of audio
#: here), on each clip and again on it framed by silence; the recipe's
#: 64 development clips of up to 30 s made it the longest step of an
#: export, while MinMax ranges settle on far less speech.
CALIBRATION_SECONDS = 45.0


class ExportError(RuntimeError):
    """An export that failed one of its checks; nothing was written."""


class Int8GateError(ExportError):
    """An int8 model that failed the int8 gate.

    Arguments
    ---------
    message : str
        Which check failed, with its figures.
    figures : dict
        ``int8_ccc`` (dimension -> CCC; empty when the model gave NaN or
        Inf), ``int8_min_ccc``, ``int8_max_abs_diff`` and
        ``held_out_items``.

    Example
    -------
    >>> error = Int8GateError("CCC too low", {"int8_ccc": {"arousal": 0.9}})
    >>> isinstance(error, ExportError), error.figures["int8_ccc"]
    (True, {'arousal': 0.9})
    """

    def __init__(self, message, figures):
        """Keeps ``figures`` beside the message."""
        super().__init__(message)
        self.figures = figures


def _run_session(session, wavs, wav_lens, outputs=(OUTPUT_NAME,)):
    """The ``outputs`` (a list; by default the scores [batch, 3] alone) of
    an onnxruntime ``session`` for ``wavs`` [batch, time] and relative
    lengths ``wav_lens`` [batch]."""
    return session.run(
        list(outputs),
        {WAVS_INPUT: wavs.astype(np.float32), LENGTHS_INPUT: wav_lens},
    )


def check_parity(
    wrapper,
    session,
    held_out,
    seconds=PARITY_SECONDS,
    batch_sizes=PARITY_BATCH_SIZES,
    tolerance=MAX_ABS_DIFF,
    sample_rate=SAMPLE_RATE,
    max_padded_seconds=PARITY_MAX_PADDED_SECONDS,
):
    """onnxruntime float vs PyTorch on real audio at several shapes.

    Every output of the wrapper is compared: the scores to ``tolerance``;
    the embeddings, whose features reach magnitudes in the tens (second
    order statistics), to ``tolerance`` times their largest magnitude
    (at least 1), the same float32 rounding.

    Arguments
    ---------
    wrapper : torch.nn.Module
        The exported module, in eval mode on the CPU (an
        :class:`~speechbrain_wav2small.export.wrappers.OnnxStudent`:
        a tuple of the outputs its ``output_names`` name).
    session : onnxruntime.InferenceSession
        The float model.
    held_out : list of numpy.ndarray
        Audio the batches are cut from.
    seconds, batch_sizes : tuple
        Clip durations and batch sizes checked (every pair, see
        :func:`parity_shapes`).
    tolerance : float
        Largest allowed absolute difference.
    sample_rate : int
        Rate of ``held_out`` in Hz.
    max_padded_seconds : float, optional
        Longest duration checked in batches of more than one clip
        (``None``: every pair).

    Returns
    -------
    dict
        ``max_abs_diff``, ``tolerance``, ``by_shape`` (``"3s x1"`` -> diff)
        of the scores; with embeddings also ``embeddings_max_diff`` and
        ``embeddings_by_shape`` (differences relative to the largest
        magnitude, at least 1).

    Raises
    ------
    ExportError
        Some shape differs by more than ``tolerance``.
    ValueError
        No shape is left to check.

    Example
    -------
    An exported model is needed, so this is not run as a doctest::

        check_parity(OnnxStudent(student).eval(), session, clips)
    """
    source = np.concatenate(held_out)
    names = list(wrapper.output_names)
    results = {name: {} for name in names}
    for duration, batch_size in parity_shapes(
        seconds, batch_sizes, max_padded_seconds
    ):
        total = max(1, int(round(duration * sample_rate)))
        wavs, wav_lens = _padded_batch(source, total, batch_size)
        with torch.no_grad():
            expected = wrapper(
                torch.from_numpy(wavs), torch.from_numpy(wav_lens)
            )
        got = _run_session(session, wavs, wav_lens, names)
        shape = f"{duration:g}s x{batch_size}"
        for name, value, reference in zip(names, got, expected, strict=True):
            reference = reference.numpy()
            scale = 1.0
            if name == EMBEDDINGS_OUTPUT:
                scale = max(1.0, float(np.abs(reference).max()))
            difference = float(np.abs(value - reference).max()) / scale
            if not np.isfinite(difference):
                difference = math.inf
            results[name][shape] = difference
    failing = {
        name: by_shape
        for name, by_shape in results.items()
        if max(by_shape.values()) > tolerance
    }
    if failing:
        raise ExportError(
            "float ONNX differs from PyTorch by up to "
            f"{max(max(v.values()) for v in failing.values()):.3g} "
            f"(tolerance {tolerance:g}): "
            + "; ".join(
                f"{name}: "
                + ", ".join(f"{k}: {v:.3g}" for k, v in by_shape.items())
                for name, by_shape in failing.items()
            )
        )
    report = {
        "max_abs_diff": max(results[OUTPUT_NAME].values()),
        "tolerance": tolerance,
        "by_shape": results[OUTPUT_NAME],
    }
    if EMBEDDINGS_OUTPUT in results:
        embeddings = results[EMBEDDINGS_OUTPUT]
        report["embeddings_max_diff"] = max(embeddings.values())
        report["embeddings_by_shape"] = embeddings
    return report


def parity_shapes(
    seconds=PARITY_SECONDS,
    batch_sizes=PARITY_BATCH_SIZES,
    max_padded_seconds=PARITY_MAX_PADDED_SECONDS,
):
    """The (duration, batch size) pairs the parity gate checks: every
    pair, but batches of more than one clip only up to
    ``max_padded_seconds`` (``None``: no limit).

    Example
    -------
    >>> parity_shapes()[-3:]
    [(10.0, 1), (10.0, 3), (30.0, 1)]
    >>> parity_shapes((30.0,), (3,))
    Traceback (most recent call last):
    ...
    ValueError: no parity shape left: padded batches stop at 10 s
    """
    shapes = [
        (duration, batch_size)
        for duration in seconds
        for batch_size in batch_sizes
        if batch_size == 1
        or max_padded_seconds is None
        or duration <= max_padded_seconds
    ]
    if not shapes:
        raise ValueError(
            "no parity shape left: padded batches stop at "
            f"{max_padded_seconds:g} s"
        )
    return shapes


def _padded_batch(source, total, batch_size):
    """``batch_size`` rows of ``total`` samples cut from ``source``, zero
    beyond their relative lengths: (wavs, wav_lens) as float32."""
    # Rows start at different offsets; later rows are shorter so the
    # padding and length masking are exercised too.
    fractions = np.linspace(1.0, 0.45, batch_size)
    wavs = np.stack(
        [_crop(source, total, row * 7919) for row in range(batch_size)]
    )
    lengths = np.maximum(np.round(fractions * total), 1) / total
    wavs[np.arange(total)[None, :] >= lengths[:, None] * total] = 0
    return wavs, lengths.astype(np.float32)


def check_int8(float_session, int8_session, held_out, min_ccc=MIN_CCC):
    """int8 vs float CCC per dimension over the held-out clips.

    Arguments
    ---------
    float_session, int8_session : onnxruntime.InferenceSession
        The two models.
    held_out : list of numpy.ndarray
        Clips, each scored alone (batch 1, unpadded).
    min_ccc : float
        Minimum CCC, per dimension.

    Returns
    -------
    dict
        ``int8_ccc`` (dimension -> CCC), ``int8_min_ccc``,
        ``int8_max_abs_diff``.

    Raises
    ------
    Int8GateError
        The int8 model gives NaN or Inf, or a CCC is below ``min_ccc``.

    Example
    -------
    Exported models are needed, so this is not run as a doctest::

        check_int8(float_session, int8_session, clips)["int8_ccc"]
    """
    ones = np.ones(1, dtype=np.float32)
    float_scores = np.concatenate(
        [_run_session(float_session, clip[None], ones)[0] for clip in held_out]
    )
    int8_scores = np.concatenate(
        [_run_session(int8_session, clip[None], ones)[0] for clip in held_out]
    )
    figures = {
        "int8_ccc": {},
        "int8_min_ccc": min_ccc,
        "int8_max_abs_diff": None,
        "held_out_items": len(held_out),
    }
    if not np.isfinite(int8_scores).all():
        raise Int8GateError(
            f"the int8 model gives NaN or Inf on {len(held_out)} held-out "
            "clips",
            figures,
        )
    values = ccc(torch.from_numpy(int8_scores), torch.from_numpy(float_scores))
    figures["int8_ccc"] = {
        name: float(value)
        for name, value in zip(DIMENSIONS, values, strict=True)
    }
    figures["int8_max_abs_diff"] = float(
        np.abs(int8_scores - float_scores).max()
    )
    failing = {
        name: value
        for name, value in figures["int8_ccc"].items()
        if not value >= min_ccc  # NaN fails too
    }
    if failing:
        raise Int8GateError(
            f"int8 vs float CCC below {min_ccc} on {len(held_out)} held-out "
            "clips: "
            + ", ".join(f"{k} {v:.5f}" for k, v in failing.items())
            + " (a model whose predictions barely vary across clips, e.g. "
            "untrained, cannot pass; more held-out clips or another "
            "quantization mode may)",
            figures,
        )
    return figures


def held_out_items(held_out, sample_rate=SAMPLE_RATE, max_seconds=30.0):
    """The held-out clips as float32 arrays, at most ``max_seconds`` each.

    Arguments
    ---------
    held_out : list, str, os.PathLike or None
        1-D arrays or tensors at ``sample_rate``, audio file paths, or
        folders. ``None``: windows of the real speech shipped with the
        package (:func:`~speechbrain_wav2small.dataio.reference_speech.
        reference_speech_clips`), with a warning.
    sample_rate : int
        Rate of the returned clips in Hz (files are resampled).
    max_seconds : float
        Longer clips are cut.

    Returns
    -------
    list of numpy.ndarray

    Raises
    ------
    ValueError
        Fewer than 8 clips.

    Example
    -------
    >>> clips = held_out_items([np.zeros(40000)] * 8, max_seconds=2.0)
    >>> len(clips), clips[0].shape, str(clips[0].dtype)
    (8, (32000,), 'float32')
    """
    if held_out is None:
        logger.warning(
            "no held-out audio given to the int8 check: using the short "
            "read-speech recordings shipped with the package; pass your "
            "own held-out speech for a real check"
        )
        items = reference_speech_clips(sample_rate=sample_rate)
    else:
        items = _read_items(held_out, sample_rate)
    limit = int(max_seconds * sample_rate)
    items = [np.ascontiguousarray(x[:limit], dtype=np.float32) for x in items]
    if len(items) < 8:
        raise ValueError(
            f"the int8 check needs at least 8 held-out clips, got {len(items)}"
        )
    return items


def _read_items(held_out, sample_rate):
    """Arrays, tensors, files and folders of ``held_out`` as 1-D arrays."""
    if isinstance(held_out, (str, os.PathLike)):
        held_out = [held_out]
    items = []
    for item in held_out:
        if isinstance(item, (str, os.PathLike)):
            if os.path.isdir(item):
                paths = find_audio_files(item)
                items.extend(read_audio(p, sample_rate) for p in paths)
            else:
                items.append(read_audio(item, sample_rate))
        else:
            if isinstance(item, torch.Tensor):
                item = item.detach().cpu().numpy()
            items.append(np.asarray(item, dtype=np.float32).reshape(-1))
    return items


def calibration_clips(
    held_out, sample_rate=SAMPLE_RATE, max_seconds=CALIBRATION_SECONDS
):
    """The clips a static int8 model is calibrated on: ``held_out`` (every
    k-th clip when they last longer than ``max_seconds``), then each of
    those framed by silence.

    Real recordings reach the log-mel floor in digital silence, which
    held-out crops may never show: a static model calibrated without it
    clips there (a clean test file scored 0.40 instead of -0.56; on 1 s
    windows of the package's speech the CCC vs float fell to 0.005).

    Example
    -------
    >>> [len(clip) for clip in calibration_clips([np.ones(16000)])]
    [16000, 32000]
    >>> clips = calibration_clips([np.ones(16000)] * 90)
    >>> len(clips), sum(len(clip) for clip in clips) / 16000
    (90, 135.0)
    """
    total = sum(len(clip) for clip in held_out) / sample_rate
    chosen = held_out[:: max(1, math.ceil(total / max_seconds))]
    return chosen + _framed_by_silence(chosen, sample_rate)


def _framed_by_silence(clips, sample_rate, seconds=0.5):
    """Each clip with ``seconds`` of zeros before and after it."""
    silence = np.zeros(int(seconds * sample_rate), np.float32)
    return [np.concatenate([silence, clip, silence]) for clip in clips]


def _crop(source, length, offset):
    """``length`` samples of ``source`` from ``offset``, tiled if short.

    Example
    -------
    >>> _crop(np.arange(4), 6, 3).tolist()
    [3, 0, 1, 2, 3, 0]
    """
    repeats = int(math.ceil((length + offset) / len(source))) + 1
    tiled = np.tile(source, repeats) if repeats > 1 else source
    start = offset % len(source)
    return np.ascontiguousarray(tiled[start : start + length])
