"""ONNX export of a student: a float model and an int8 model, both checked.

:func:`export_onnx` is the hook the distillation recipe calls at the end of
training (and ``wav2small export`` calls on a checkpoint). It writes

* ``model.onnx``: float32, one self-contained file, opset 18, dynamic batch
  and time. Inputs ``wavs`` [batch, time] (mono, 16 kHz) and ``wav_lens``
  [batch] (SpeechBrain relative lengths in (0, 1]); outputs ``scores``
  [batch, 3] in the order arousal, dominance, valence, then
  ``embeddings`` [batch, F], the pooled features the student's head
  reads (338 for Wav2Small; a student without ``embed`` and ``head``
  gets ``scores`` only);
* ``model.int8.onnx``: the same graph, int8: statically quantised given
  real held-out audio, else int8 weights with float arithmetic
  (:mod:`~speechbrain_wav2small.export.quantization`); not
  written with ``quantization="none"`` or when it fails its gate.

Each file is written only once it has passed its gate
(:mod:`~speechbrain_wav2small.export.gates`): onnxruntime float vs PyTorch
at several clip lengths and batch sizes, and int8 vs float CCC over
held-out audio. A failed float gate raises
:class:`~speechbrain_wav2small.export.gates.ExportError` and leaves no
file. A failed int8 gate only keeps the int8 file out: the float model is
the product and the int8 copy an optional derivative, so the export is
written without it, a warning says why, and the report records it
(``int8_outcome`` ``"refused"``, ``no_int8_reason``, ``int8_refused``).
The files are written all or none
(:func:`~speechbrain_wav2small.utils.durable.atomic_write_files`), so a
reader never sees a half-written model, and an int8 file left by an
earlier export is removed first, so it never sits beside a float model it
was not made from.

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
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import onnx

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.export.audonnx_files import write_audonnx_files
from speechbrain_wav2small.export.gates import (
    MAX_ABS_DIFF,
    MIN_CCC,
    PARITY_BATCH_SIZES,
    PARITY_MAX_PADDED_SECONDS,
    PARITY_SECONDS,
    Int8GateError,
    calibration_clips,
    check_int8,
    check_parity,
    held_out_items,
    parity_shapes,
)
from speechbrain_wav2small.export.quantization import (
    DEFAULT_QUANTIZATION,
    check_mode,
    int8_modes,
    quantization_metadata,
    quantize,
)
from speechbrain_wav2small.export.tracing import (
    export_graph,
    file_metadata,
    finish,
    join_branches,
)
from speechbrain_wav2small.export.wrappers import (
    BranchingWav2Small,
    OnnxStudent,
)
from speechbrain_wav2small.inference.onnx_emotion import load_session
from speechbrain_wav2small.lobes.wav2small import Wav2Small
from speechbrain_wav2small.utils.complexity import count_parameters
from speechbrain_wav2small.utils.distributed import unwrap
from speechbrain_wav2small.utils.durable import (
    atomic_write_files,
    fsync_folder,
)
from speechbrain_wav2small.utils.model_files import FLOAT_FILE, INT8_FILE
from speechbrain_wav2small.utils.modules import eval_mode

logger = logging.getLogger(__name__)

#: What became of the int8 model (the report's ``int8_outcome``): written;
#: not asked for (``quantization="none"``); refused by its gate, so only
#: the float model was written (a warning).
INT8_WRITTEN = "written"
INT8_NOT_REQUESTED = "not requested"
INT8_REFUSED = "refused"

#: Where the held-out audio of the checks came from (``held_out_source``).
GIVEN_AUDIO = "given"
REFERENCE_AUDIO = "reference speech shipped with the package"


def export_onnx(
    model,
    out_dir,
    student_name,
    teacher_fingerprint=None,
    held_out_wavs=None,
    overwrite=False,
    quantization=DEFAULT_QUANTIZATION,
    parity_seconds=PARITY_SECONDS,
    parity_batch_sizes=PARITY_BATCH_SIZES,
    max_abs_diff=MAX_ABS_DIFF,
    min_ccc=MIN_CCC,
    sample_rate=SAMPLE_RATE,
    parity_max_padded_seconds=PARITY_MAX_PADDED_SECONDS,
):
    """Exports ``model`` to ``out_dir/model.onnx`` and, when it passes its
    gate, ``model.int8.onnx``.

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
        ``"static"``: int8 weights and calibrated uint8 activations, int8
        kernels (the fastest). ``"weights"``: int8 weights, dequantised in
        the graph, float arithmetic (the most accurate). ``"dynamic"``:
        onnxruntime's dynamic quantisation (``ConvInteger``; the head
        stays float). ``"auto"`` (default): static given
        ``held_out_wavs``, weights if static fails the int8 gate (a
        warning says so) or without held-out audio. ``"none"``: no int8
        model. The report's ``quantization`` says which one was written
        (``"none"`` when none was).
    parity_seconds, parity_batch_sizes : tuple
        Clip durations and batch sizes of the float parity gate.
    max_abs_diff : float
        Tolerance of the float parity gate.
    min_ccc : float
        Minimum int8-vs-float CCC, per dimension.
    sample_rate : int
        Input sample rate of the model in Hz.
    parity_max_padded_seconds : float, optional
        Longest clip duration the parity gate checks in padded batches
        (``None``: every pair of ``parity_seconds`` and
        ``parity_batch_sizes``).

    Returns
    -------
    dict
        ``files`` (name -> path, the files written), ``bytes`` (name ->
        size), ``parity`` (float vs PyTorch: max abs diff per shape and
        overall), ``held_out_items``, ``held_out_source``, ``parameters``,
        ``student``, ``quantization``; ``int8_outcome`` (one of
        :data:`INT8_WRITTEN`, :data:`INT8_NOT_REQUESTED`,
        :data:`INT8_REFUSED`), ``no_int8_reason`` (``"no int8 file,
        because ..."``, or None), ``int8_refused`` (each refused mode with
        its reason and figures); ``int8_ccc`` (per dimension),
        ``int8_min_ccc`` and ``int8_max_abs_diff`` of the written int8
        file (None without one).

    Raises
    ------
    ExportError
        The float model failed its gate; no file was written.
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
    # Refuses gate settings that leave no shape before the long trace.
    parity_shapes(parity_seconds, parity_batch_sizes, parity_max_padded_seconds)
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
            parity_max_padded_seconds,
        )
    # Trained width of a Wav2Small (its export pads it to the SIMD width).
    channels = student.attention.value.out_channels if is_wav2small else None
    modes = int8_modes(quantization, is_wav2small, held_out_wavs is not None)
    int8 = _int8_model(
        float_model,
        modes,
        metadata,
        partial(
            quantize,
            calibration_clips=calibration_clips(held_out, sample_rate),
            channels=channels,
        ),
        partial(check_int8, held_out=held_out, min_ccc=min_ccc),
    )
    float_path, int8_path = targets
    contents = {float_path: float_model.data}
    if int8.data is None:
        _remove_stale(int8_path)
    else:
        contents[int8_path] = int8.data
    atomic_write_files(contents)
    # audEERING's audonnx needs single-clip copies of the graphs and its own
    # YAML; they are derived from (and checked against) the files above.
    audonnx_files = write_audonnx_files(out_dir)
    report = {
        "student": student_name,
        "parameters": parameters,
        "quantization": int8.mode,
        "files": {path.name: str(path) for path in contents},
        "bytes": {path.name: len(data) for path, data in contents.items()},
        "audonnx_files": sorted(audonnx_files),
        "parity": parity,
        "held_out_items": len(held_out),
        "held_out_source": REFERENCE_AUDIO
        if held_out_wavs is None
        else GIVEN_AUDIO,
        "int8_outcome": int8.outcome(modes),
        "no_int8_reason": int8.no_int8_reason(modes),
        "int8_refused": int8.refused,
        "int8_ccc": int8.figures.get("int8_ccc"),
        "int8_min_ccc": min_ccc,
        "int8_max_abs_diff": int8.figures.get("int8_max_abs_diff"),
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


@dataclass
class _Int8Model:
    """What the int8 pass gave: the mode written (``"none"`` when no file),
    the file's bytes (None), its gate figures, and each refused mode with
    its reason and figures."""

    mode: str = "none"
    data: bytes = None
    figures: dict = field(default_factory=dict)
    refused: list = field(default_factory=list)

    def outcome(self, modes):
        """:data:`INT8_WRITTEN`, :data:`INT8_NOT_REQUESTED` (no ``modes``)
        or :data:`INT8_REFUSED`."""
        if self.data is not None:
            return INT8_WRITTEN
        return INT8_REFUSED if modes else INT8_NOT_REQUESTED

    def no_int8_reason(self, modes):
        """The sentence saying why there is no int8 file (every refusal
        and its figures), or None when the file was written."""
        if self.data is not None:
            return None
        if not modes:
            return (
                "no int8 file, because quantization 'none' asks for the "
                "float model only"
            )
        return "no int8 file, because " + "; ".join(
            f"{entry['mode']} int8 was refused: {entry['reason']}"
            for entry in self.refused
        )


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
    model = join_branches(graph_model)
    finish(model, metadata)
    return model.SerializeToString()


def _int8_model(float_model, modes, metadata, quantize_as, check):
    """Quantises ``float_model`` as each of ``modes`` in turn until one
    passes the int8 gate; a warning names each refused mode.

    ``quantize_as(graph, front_end, mode)`` gives the int8 graph and
    ``check(float_session, int8_session)`` is the gate (raising
    :class:`Int8GateError`). A mode whose quantisation itself fails is
    refused too: the int8 copy is optional, the float model is not.
    Returns an :class:`_Int8Model`, without data when no mode passed.
    """
    result = _Int8Model()
    for position, mode in enumerate(modes):
        try:
            graph = quantize_as(float_model.graph, float_model.front_end, mode)
            data = _file_bytes(
                graph, dict(metadata, **quantization_metadata(mode))
            )
            figures = check(float_model.session, load_session(data))
        except Int8GateError as error:
            result.refused.append(
                {"mode": mode, "reason": str(error), **error.figures}
            )
        except Exception as error:  # noqa: BLE001 - see the docstring
            reason = f"quantisation failed ({type(error).__name__}: {error})"
            result.refused.append({"mode": mode, "reason": reason})
        else:
            result.mode, result.data, result.figures = mode, data, figures
            return result
        following = modes[position + 1 : position + 2]
        logger.warning(
            "%s int8 refused (%s); %s",
            mode,
            result.refused[-1]["reason"],
            f"trying {following[0]}"
            if following
            else "writing the float model without an int8 copy",
        )
    return result


def _remove_stale(path):
    """Removes an int8 file an earlier export left at ``path`` (it was
    made from another model), durably."""
    if path.exists():
        os.remove(path)
        fsync_folder(path.parent)


def _log_report(report):
    """One INFO line: the file sizes and the gates' figures (a refused
    int8 model has had its warning already)."""
    sizes = ", ".join(f"{k} {v} bytes" for k, v in report["bytes"].items())
    int8_ccc = report["int8_ccc"]
    logger.info(
        "exported %s: %s; float vs PyTorch max abs diff %.2g; %s",
        report["student"],
        sizes,
        report["parity"]["max_abs_diff"],
        "int8 vs float CCC "
        + ", ".join(f"{k} {v:.5f}" for k, v in int8_ccc.items())
        if int8_ccc
        else f"no int8 file ({report['int8_outcome']})",
    )
