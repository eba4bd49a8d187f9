"""ONNX export of a student: a float model and an int8 model, both checked.

:func:`export_onnx` is the hook the distillation recipe calls at the end of
training (and ``wav2small export`` calls on a checkpoint). It writes

* ``model.onnx``: float32, one self-contained file, opset 18, dynamic batch
  and time. Inputs ``wavs`` [batch, time] (mono, 16 kHz) and ``wav_lens``
  [batch] (SpeechBrain relative lengths in (0, 1]); output ``scores``
  [batch, 3] in the order arousal, dominance, valence;
* ``model.int8.onnx``: the same graph, int8: statically quantised for a
  Wav2Small given real held-out audio, else int8 weights with float
  arithmetic (:mod:`~speechbrain_wav2small.export.quantization`).

Nothing is written until both models have passed their gates
(:mod:`~speechbrain_wav2small.export.gates`): onnxruntime float vs PyTorch
at several clip lengths and batch sizes, and int8 vs float CCC over
held-out audio. A failed gate raises
:class:`~speechbrain_wav2small.export.gates.ExportError` and leaves no
file. Both files are written all or none
(:func:`~speechbrain_wav2small.utils.durable.atomic_write_files`), so a
reader never sees a half-written model.

A Wav2Small is exported in its inference form, with and without length
masks (:class:`~speechbrain_wav2small.export.wrappers.BranchingWav2Small`),
and :func:`~speechbrain_wav2small.export.graph.lazy_where` puts the masked
path into an ``If`` branch that runs only for padded batches (and clips
shorter than one window). Unpadded batches, the usual case, then take
about 12 ms (float) and 8 ms (static int8) per 10 s clip on one core
instead of about 20 ms (``benchmarks/inference.py``). Load the files with
:func:`~speechbrain_wav2small.inference.onnx_emotion.load_session`: it
applies the settings a file stores as ``onnxruntime_session_config`` (a
``"weights"`` file asks for its int8 weights to be dequantised at load
time; a static file runs with the defaults). ``quantization="dynamic"``
exports the student as trained, in one graph.

Authors
 * speechbrain-wav2small contributors 2026
"""

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import onnx

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.export.gates import (
    MAX_ABS_DIFF,
    MIN_CCC,
    PARITY_BATCH_SIZES,
    PARITY_SECONDS,
    ExportError,
    calibration_clips,
    check_int8,
    check_parity,
    held_out_items,
)
from speechbrain_wav2small.export.quantization import (
    check_mode,
    int8_modes,
    quantization_metadata,
    quantize,
)
from speechbrain_wav2small.export.tracing import (
    export_graph,
    file_metadata,
    finish,
    single_output,
)
from speechbrain_wav2small.export.wrappers import (
    BranchingWav2Small,
    OnnxStudent,
)
from speechbrain_wav2small.inference.onnx_emotion import load_session
from speechbrain_wav2small.lobes.wav2small import Wav2Small
from speechbrain_wav2small.utils.complexity import count_parameters
from speechbrain_wav2small.utils.distributed import unwrap
from speechbrain_wav2small.utils.durable import atomic_write_files
from speechbrain_wav2small.utils.model_files import FLOAT_FILE, INT8_FILE
from speechbrain_wav2small.utils.modules import eval_mode

logger = logging.getLogger(__name__)


def export_onnx(
    model,
    out_dir,
    student_name,
    teacher_fingerprint=None,
    held_out_wavs=None,
    overwrite=False,
    quantization="auto",
    parity_seconds=PARITY_SECONDS,
    parity_batch_sizes=PARITY_BATCH_SIZES,
    max_abs_diff=MAX_ABS_DIFF,
    min_ccc=MIN_CCC,
    sample_rate=SAMPLE_RATE,
):
    """Exports ``model`` to ``out_dir/model.onnx`` and ``model.int8.onnx``.

    Arguments
    ---------
    model : torch.nn.Module
        A trained student (``forward(wavs, lengths) -> [batch, 3]``). It
        is exported on the CPU in eval mode and put back as it was.
    out_dir : str or os.PathLike
        Output folder (created if needed).
    student_name : str
        Recorded in the metadata (e.g. ``"wav2small"``).
    teacher_fingerprint : str, optional
        Identifies the teacher whose labels trained the student.
    held_out_wavs : list, optional
        Audio for the int8 gate, never seen in training: 1-D arrays or
        tensors at ``sample_rate``, audio file paths, or folders. Use real
        speech, and enough clips (dozens) for a meaningful CCC. When
        ``None``, windows of the short read-speech recordings shipped with
        the package are used (with a warning): a weaker check.
    overwrite : bool
        Replace an existing export. Without it an existing file is an error.
    quantization : str
        ``"static"`` (Wav2Small only): int8 weights and calibrated uint8
        activations, int8 kernels (the fastest). ``"weights"``: int8
        weights, dequantised in the graph, float arithmetic (the most
        accurate). ``"dynamic"``: onnxruntime's dynamic quantisation
        (``ConvInteger``; the head stays float). ``"auto"`` (default):
        static for Wav2Small given ``held_out_wavs``, weights if static
        fails the int8 gate (a warning says so), without held-out audio
        and for the other students. The report's ``quantization`` says
        which one was written.
    parity_seconds, parity_batch_sizes : tuple
        Clip durations and batch sizes of the float parity gate.
    max_abs_diff : float
        Tolerance of the float parity gate.
    min_ccc : float
        Minimum int8-vs-float CCC, per dimension.
    sample_rate : int
        Input sample rate of the model in Hz.

    Returns
    -------
    dict
        ``files`` (name -> path), ``bytes`` (name -> size), ``parity``
        (float vs PyTorch: max abs diff per shape and overall),
        ``int8_ccc`` (per dimension), ``int8_max_abs_diff``,
        ``held_out_items``, ``parameters``, ``student``, ``quantization``.

    Raises
    ------
    ExportError
        A gate failed; no file was written.
    FileExistsError
        An export exists in ``out_dir`` and ``overwrite`` is False.

    Example
    -------
    A full export takes a few seconds, so this is not run as a doctest::

        report = export_onnx(model, "exports/wav2small", "wav2small",
                             held_out_wavs=["dev_clips/"])
        report["bytes"]["model.int8.onnx"]
    """
    student = unwrap(model)
    is_wav2small = isinstance(student, Wav2Small)
    check_mode(quantization, is_wav2small)
    targets = _targets(Path(out_dir), overwrite)
    held_out = held_out_items(held_out_wavs, sample_rate)
    parameters = count_parameters(student)
    with eval_mode(student, device="cpu"):
        wrapper = OnnxStudent(student).eval()
        metadata = file_metadata(
            student_name,
            parameters,
            teacher_fingerprint,
            sample_rate,
            wrapper.min_samples,
        )
        branching = quantization != "dynamic" and is_wav2small
        float_model = _float_model(student, wrapper, branching, metadata)
        parity = check_parity(
            wrapper,
            float_model.session,
            held_out,
            parity_seconds,
            parity_batch_sizes,
            max_abs_diff,
            sample_rate,
        )
    # Trained width of a Wav2Small (its export pads it to the SIMD width).
    channels = student.attention.value.out_channels if is_wav2small else None
    quantization, int8_bytes, int8_check = _int8_model(
        float_model,
        int8_modes(quantization, is_wav2small, held_out_wavs is not None),
        metadata,
        partial(
            quantize,
            calibration_clips=calibration_clips(held_out, sample_rate),
            channels=channels,
        ),
        partial(check_int8, held_out=held_out, min_ccc=min_ccc),
    )
    atomic_write_files(
        dict(zip(targets, [float_model.data, int8_bytes], strict=True))
    )
    report = {
        "student": student_name,
        "parameters": parameters,
        "quantization": quantization,
        "files": {path.name: str(path) for path in targets},
        "bytes": {
            FLOAT_FILE: len(float_model.data),
            INT8_FILE: len(int8_bytes),
        },
        "parity": parity,
        "held_out_items": len(held_out),
        **int8_check,
    }
    _log_report(report)
    return report


@dataclass
class _FloatModel:
    """The traced float model: its graph as the int8 pass reads it (before
    the branches are joined), the positions of its front end's nodes, its
    finished file and an onnxruntime session of that file."""

    graph: onnx.ModelProto
    front_end: set
    data: bytes
    session: object


def _float_model(student, wrapper, branching, metadata):
    """Traces ``wrapper`` (or, when ``branching``, the student's
    :class:`BranchingWav2Small` form) and finishes its float file."""
    traced = BranchingWav2Small(student).eval() if branching else wrapper
    graph, front_end = export_graph(traced)
    data = _file_bytes(graph, dict(metadata, quantization="none (float32)"))
    # The gates check the model as the package's runtime runs it.
    return _FloatModel(graph, front_end, data, load_session(data))


def _targets(out_dir, overwrite):
    """The two file paths in ``out_dir``; raises ``FileExistsError`` when
    one exists and ``overwrite`` is False."""
    targets = [out_dir / FLOAT_FILE, out_dir / INT8_FILE]
    existing = [str(path) for path in targets if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"refusing to overwrite {', '.join(existing)}; pass "
            "overwrite=True (--overwrite) to replace the export"
        )
    return targets


def _file_bytes(graph_model, metadata):
    """The finished file of a traced or quantised graph: branches joined,
    ``metadata`` stored, checked."""
    model = single_output(graph_model)
    finish(model, metadata)
    return model.SerializeToString()


def _int8_model(float_model, modes, metadata, quantize_as, check):
    """Quantises ``float_model`` as each of ``modes`` in turn until one
    passes the int8 gate; a warning names each refused mode.

    ``quantize_as(graph, front_end, mode)`` gives the int8 graph and
    ``check(float_session, int8_session)`` is the gate (raising
    :class:`ExportError`). Returns (mode, file bytes, gate figures); raises
    the last mode's error when none passes.
    """
    for position, mode in enumerate(modes):
        graph = quantize_as(float_model.graph, float_model.front_end, mode)
        data = _file_bytes(graph, dict(metadata, **quantization_metadata(mode)))
        try:
            figures = check(float_model.session, load_session(data))
            return mode, data, figures
        except ExportError as error:
            if position == len(modes) - 1:
                raise
            logger.warning(
                "%s int8 refused (%s); trying %s",
                mode,
                error,
                modes[position + 1],
            )


def _log_report(report):
    """One INFO line: the file sizes and both gates' figures."""
    sizes = report["bytes"]
    int8_ccc = report["int8_ccc"]
    logger.info(
        "exported %s: %s %d bytes, %s %d bytes; float vs PyTorch max abs "
        "diff %.2g; int8 vs float CCC %s",
        report["student"],
        FLOAT_FILE,
        sizes[FLOAT_FILE],
        INT8_FILE,
        sizes[INT8_FILE],
        report["parity"]["max_abs_diff"],
        ", ".join(f"{k} {v:.5f}" for k, v in int8_ccc.items()),
    )
