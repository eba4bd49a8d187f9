"""ONNX export of a student: a float model and an int8 model, both checked.

:func:`export_onnx` is the hook the distillation recipe calls at the end of
training (and ``wav2small export`` calls on a checkpoint). It writes

* ``model.onnx``: float32, one self-contained file, opset 18, dynamic batch
  and time. Inputs ``wavs`` [batch, time] (mono, 16 kHz) and ``wav_lens``
  [batch] (SpeechBrain relative lengths in (0, 1]); output ``scores``
  [batch, 3] in the order arousal, dominance, valence;
* ``model.int8.onnx``: the same graph, int8. For Wav2Small given real
  held-out audio, by default (``quantization="auto"``) statically quantised
  (:mod:`~speechbrain_wav2small.export.static_quantization`): uint8 activations
  calibrated on that audio and int8 weights, so onnxruntime runs
  the 3x3 convolutions with its int8 kernels; if that fails the accuracy
  gate, or for the MobileNets, int8 weights dequantised in the graph with
  float arithmetic (``"weights"``: the int8 weights cost nothing in
  accuracy, CCC vs float >= 0.9995 on the test students); onnxruntime's
  dynamic int8 (``"dynamic"``) lost up to 0.002 there. The log-mel front
  end always stays float: quantising it wrecks the output.

Nothing is written until both models have passed their gates:

1. onnxruntime float vs PyTorch, max absolute difference <= 1e-4 at
   0.5/3/10/30 s and batch 1 and 3 (batches padded with relative lengths);
2. int8 vs float, CCC >= 0.999 per dimension over held-out audio.

A failed gate raises :class:`ExportError` and leaves no file. Files are
written to hidden temporary files in the output folder and moved into
place with ``os.replace``; an interruption before the last move restores
whatever was there before, so a reader never sees a half-written model.

How a Wav2Small graph is made fast: it is exported in its inference form
(:class:`~speechbrain_wav2small.lobes.fast_wav2small.FastWav2Small`:
channels padded to onnxruntime's blocked layout, time as the contiguous
axis, BatchNorm folded), with and without length masks, and
:func:`~speechbrain_wav2small.export.graph.lazy_where` puts the masked path
into an ``If`` branch that runs only for padded batches (and clips shorter
than one window). Unpadded batches, the usual case, then take about 12 ms
(float) and 8 ms (static int8) per 10 s clip on one core instead of about
20 ms (``benchmarks/inference.py``). Load the files with
:func:`~speechbrain_wav2small.inference.onnx_emotion.load_session`: it applies
the settings a file stores as ``onnxruntime_session_config`` (a ``"weights"``
file asks for its int8 weights to be dequantised at load time; a static
file runs with the defaults). ``quantization="dynamic"`` exports the
student as trained, in one graph.

How the graph is kept small (numbers measured on this stack): the exporter
runs with ``optimize=False`` and ``onnxscript``'s optimiser follows with a
small constant-folding limit, so BatchNorm is folded into the convolutions
while the DFT basis and the mel filterbank stay computed from a few
integers instead of being stored; the per-node stack traces and shape
annotations the exporter leaves are stripped and internal names shortened.

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib
import json
import logging
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxscript.optimizer
import torch
import torch.nn.functional as F
from onnx import helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from torch import nn

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE, __version__
from speechbrain_wav2small.dataio.audio import find_audio_files, read_audio
from speechbrain_wav2small.export.graph import (
    compact,
    int8_weights,
    lazy_where,
)
from speechbrain_wav2small.export.static_quantization import quantize_fast_path
from speechbrain_wav2small.inference.onnx_emotion import (
    SESSION_CONFIG_KEY,
    WEIGHTS_ONLY_CONFIG,
    load_session,
)
from speechbrain_wav2small.lobes.fast_wav2small import FastWav2Small
from speechbrain_wav2small.lobes.wav2small import Wav2Small
from speechbrain_wav2small.objectives import ccc
from speechbrain_wav2small.utils.complexity import count_parameters

logger = logging.getLogger(__name__)

#: File names inside an export folder.
FLOAT_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"

#: Input and output names of every exported graph.
INPUT_NAMES = ("wavs", "wav_lens")
OUTPUT_NAME = "scores"

#: Default gates (issue 5): clip durations (s) and batch sizes of the float
#: parity check, its tolerance, and the minimum int8-vs-float CCC.
PARITY_SECONDS = (0.5, 3.0, 10.0, 30.0)
PARITY_BATCH_SIZES = (1, 3)
MAX_ABS_DIFF = 1e-4
MIN_CCC = 0.999

OPSET = 18

# onnxscript folds a constant when its result is not much bigger than its
# inputs, so with a large limit the folding cascades from the small index
# tensors up to the full DFT basis (66x64 for Wav2Small) and the mel
# filterbank; 16 elements keeps even the index tensors computed (a stored
# [1, 64] int64 index costs 0.5 KB of a 30 KB file) while BatchNorm folding
# (a rewrite rule, not constant folding) still happens.
CONSTANT_FOLD_LIMIT = 16

QUANTIZATION_MODES = ("auto", "static", "weights", "dynamic")


class ExportError(RuntimeError):
    """An export that failed one of its checks; nothing was written."""


class OnnxStudent(nn.Module):
    """What gets exported: a student plus in-graph padding of short clips.

    A clip shorter than the front end's window is zero-padded to one window
    here, with its relative length rescaled so the padding stays masked, so
    the ONNX graph accepts any length >= 1 sample. (The student's own check
    is a Python ``if`` on the shape, which the exporter would freeze.)

    Arguments
    ---------
    student : torch.nn.Module
        A student with a ``front_end.n_fft`` and the
        ``forward(wavs, lengths) -> [batch, 3]`` contract.

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
    >>> wrapped = OnnxStudent(Wav2Small()).eval()
    >>> wrapped(torch.randn(2, 40), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 3])
    """

    def __init__(self, student):
        super().__init__()
        self.student = student
        self.min_samples = int(student.front_end.n_fft)

    def forward(self, wavs, wav_lens):
        """Maps ``wavs`` [batch, time] and ``wav_lens`` [batch] to scores
        [batch, 3]."""
        return self.student(*self.pad_short(wavs, wav_lens))

    def pad_short(self, wavs, wav_lens):
        """Pads clips shorter than one window, rescaling ``wav_lens``."""
        total = wavs.shape[1]
        # sym_max keeps the length symbolic in the exported graph.
        padded_total = torch.sym_max(total, self.min_samples)
        wavs = F.pad(wavs, (0, padded_total - total))
        return wavs, wav_lens * (total / padded_total)


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
        ``None``, a deterministic set of synthetic voiced signals is used
        (with a warning): a weaker check.
    overwrite : bool
        Replace an existing export. Without it an existing file is an error.
    quantization : str
        ``"static"`` (Wav2Small only): int8 weights and calibrated uint8
        activations, int8 kernels (the fastest). ``"weights"``: int8
        weights, dequantised in the graph, float arithmetic (the most
        accurate). ``"dynamic"``: onnxruntime's dynamic quantisation
        (``ConvInteger``; the head stays float). ``"auto"`` (default):
        static for Wav2Small given real ``held_out_wavs``, weights if
        static fails the int8 gate (a warning says so), without held-out
        audio and for the other students. The report's
        ``quantization`` says which one was written.
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
    if quantization not in QUANTIZATION_MODES:
        raise ValueError(
            f"quantization must be one of {QUANTIZATION_MODES}, "
            f"got {quantization!r}"
        )
    student = unwrap_module(model)
    is_wav2small = isinstance(student, Wav2Small)
    # Trained width of a Wav2Small (its export pads it to the SIMD width).
    channels = student.attention.value.out_channels if is_wav2small else None
    if quantization == "static" and not is_wav2small:
        raise ValueError("quantization='static' is for Wav2Small students")
    out_dir = Path(out_dir)
    targets = [out_dir / FLOAT_FILE, out_dir / INT8_FILE]
    existing = [str(path) for path in targets if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"refusing to overwrite {', '.join(existing)}; pass "
            "overwrite=True (--overwrite) to replace the export"
        )
    held_out = _held_out_items(held_out_wavs, sample_rate)

    parameters = count_parameters(student)
    with _exportable(student):
        wrapper = OnnxStudent(student).eval()
        if quantization != "dynamic" and is_wav2small:
            traced = BranchingWav2Small(student).eval()
        else:
            traced = wrapper
        raw_model, front_end = _export_graph(traced)
        float_model = _single_output(raw_model)
        metadata = _metadata(
            student_name,
            parameters,
            teacher_fingerprint,
            sample_rate,
            wrapper.min_samples,
        )
        _finish(float_model, dict(metadata, quantization="none (float32)"))
        float_bytes = float_model.SerializeToString()
        float_session = _session(float_bytes)
        parity = _check_parity(
            wrapper,
            float_session,
            held_out,
            parity_seconds,
            parity_batch_sizes,
            max_abs_diff,
            sample_rate,
        )

    # Real recordings reach the log-mel floor in digital silence, which
    # held-out crops may never show: a static model calibrated without it
    # clips there (measured: a clean test file scored 0.40 instead of
    # -0.56). Calibration also sees each clip framed by silence.
    calibration = held_out + _framed_by_silence(held_out, sample_rate)
    modes = [quantization]
    if quantization == "auto":
        # Static int8 is only as good as its calibration audio: without
        # real held-out speech it is not tried.
        real_audio = held_out_wavs is not None
        modes = ["weights"]
        if is_wav2small and real_audio:
            modes.insert(0, "static")
    for mode in modes:
        int8_model = _single_output(
            _quantize(raw_model, front_end, mode, calibration, channels)
        )
        int8_metadata = dict(metadata, quantization=_describe(mode))
        if mode == "weights":
            int8_metadata[SESSION_CONFIG_KEY] = json.dumps(WEIGHTS_ONLY_CONFIG)
        _finish(int8_model, int8_metadata)
        int8_bytes = int8_model.SerializeToString()
        try:
            int8_check = _check_int8(
                float_session, _session(int8_bytes), held_out, min_ccc
            )
            break
        except ExportError as error:
            if mode == modes[-1]:
                raise
            logger.warning(
                "%s int8 refused (%s); trying %s",
                mode,
                error,
                modes[modes.index(mode) + 1],
            )
    quantization = mode

    _write_atomically(out_dir, dict(zip(targets, [float_bytes, int8_bytes])))
    report = {
        "student": student_name,
        "parameters": parameters,
        "quantization": quantization,
        "files": {path.name: str(path) for path in targets},
        "bytes": {
            FLOAT_FILE: len(float_bytes),
            INT8_FILE: len(int8_bytes),
        },
        "parity": parity,
        "held_out_items": len(held_out),
        **int8_check,
    }
    logger.info(
        "exported %s: %s %d bytes, %s %d bytes; float vs PyTorch max abs "
        "diff %.2g; int8 vs float CCC %s",
        student_name,
        FLOAT_FILE,
        len(float_bytes),
        INT8_FILE,
        len(int8_bytes),
        parity["max_abs_diff"],
        ", ".join(f"{k} {v:.5f}" for k, v in int8_check["int8_ccc"].items()),
    )
    return report


def unwrap_module(model):
    """The bare module inside DataParallel / DistributedDataParallel."""
    while isinstance(
        model, (nn.DataParallel, nn.parallel.DistributedDataParallel)
    ):
        model = model.module
    return model


@contextlib.contextmanager
def _exportable(model):
    """CPU and eval mode for the export; the caller's state comes back."""
    device = next(model.parameters()).device
    was_training = model.training
    model.cpu().eval()
    try:
        yield model
    finally:
        model.to(device).train(was_training)


class BranchingWav2Small(OnnxStudent):
    """What gets exported for a Wav2Small: its fast form, masks optional.

    The attention-pooled maps are computed without masks (right for
    unpadded batches) and with masks (right for any batch) and one is
    picked with ``torch.where`` on whether the batch is unpadded; the
    export turns that choice into an ``If`` that computes only the picked
    path (:func:`~speechbrain_wav2small.export.graph.lazy_where`). Returns
    the scores and the flag (a second output, so the export can find it).

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
    >>> model = Wav2Small().eval()
    >>> wrapped = BranchingWav2Small(model)
    >>> wavs = torch.randn(2, 8000)
    >>> scores, unpadded = wrapped(wavs, torch.tensor([1.0, 1.0]))
    >>> bool(unpadded), bool(torch.allclose(scores, model(wavs), atol=1e-5))
    (True, True)
    """

    #: Output name of the flag in the exported graph before branching.
    FLAG = "unpadded"

    def __init__(self, student):
        super().__init__(student)
        self.fast = FastWav2Small(student)

    def forward(self, wavs, wav_lens):
        """Maps ``wavs`` [batch, time] and ``wav_lens`` [batch] to scores
        [batch, 3] and the flag."""
        wavs, wav_lens = self.pad_short(wavs, wav_lens)
        features, frames = self.fast.front_end(wavs, wav_lens)
        unpadded = (wav_lens >= 1.0).all()
        pooled = torch.where(
            unpadded,
            self.fast.pool_features(features),
            self.fast.pool_features(features, frames),
        )
        return self.fast.score(pooled), unpadded


def _single_output(model):
    """A graph of :class:`BranchingWav2Small` (scores and flag) as one
    output, its masked path run only for padded batches."""
    if len(model.graph.output) == 1:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # _finish edits it; the int8 pass reads model
        return copy
    return lazy_where(model, BranchingWav2Small.FLAG)


def _export_graph(wrapper):
    """Traces ``wrapper`` to an optimised, stripped float ONNX model.

    Returns the model and the positions of the front end's nodes in its
    graph (the names change when :func:`_strip` shortens them; the order
    does not).
    """
    batch = torch.export.Dim("batch", min=1)
    time = torch.export.Dim("time", min=1)
    # A batch of 2 (not 1) so the exporter keeps the batch size dynamic.
    example = (torch.randn(2, 16000), torch.tensor([1.0, 0.8]))
    output_names = [OUTPUT_NAME]
    if hasattr(wrapper, "FLAG"):
        output_names.append(wrapper.FLAG)
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            wrapper,
            example,
            dynamo=True,
            external_data=False,
            optimize=False,
            opset_version=OPSET,
            input_names=list(INPUT_NAMES),
            output_names=output_names,
            dynamic_shapes=({0: batch, 1: time}, {0: batch}),
            verbose=False,
        )
    with _quiet_exporter():
        model = onnxscript.optimizer.optimize(
            program.model_proto, output_size_limit=CONSTANT_FOLD_LIMIT
        )
    front_end = {
        index
        for index, node in enumerate(model.graph.node)
        if any(
            ".front_end" in entry.value
            for entry in node.metadata_props
            if entry.key.endswith("name_scopes")
        )
    }
    _strip(model)
    return model, front_end


@contextlib.contextmanager
def _quiet_exporter():
    """Silences the exporter's per-pass INFO logs and known warnings."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir")]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # wav_lens shares the batch axis with wavs, which is intended.
            warnings.filterwarnings("ignore", message=".*axis name: batch")
            warnings.filterwarnings("ignore", message=".*LeafSpec")
            yield
    finally:
        for each, level in zip(loggers, levels):
            each.setLevel(level)


def _metadata(student, parameters, fingerprint, sample_rate, min_samples):
    """Model properties stored in every exported file (strings)."""
    return {
        "package_version": __version__,
        "student": student,
        "parameters": str(parameters),
        "teacher_fingerprint": fingerprint or "unknown",
        "sample_rate": str(sample_rate),
        "inputs": (
            "wavs: float32 [batch, time], mono at sample_rate; wav_lens: "
            "float32 [batch], relative lengths in (0, 1] (1.0 = full)"
        ),
        "min_samples": str(min_samples),
        "output_name": OUTPUT_NAME,
        "output_names": json.dumps(list(DIMENSIONS)),
        "value_range": json.dumps([0.0, 1.0]),
    }


def _describe(quantization):
    return {
        "static": "int8 weights and activations (calibrated), int8 kernels",
        "weights": "int8 weights (per channel, symmetric), float arithmetic",
        "dynamic": "onnxruntime dynamic int8 (per channel)",
    }[quantization]


def _finish(model, metadata):
    """Compacts the graph, stores the metadata and checks the model."""
    compact(model.graph, OPSET)
    del model.metadata_props[:]
    helper.set_model_props(model, metadata)
    model.producer_name = "speechbrain-wav2small"
    model.producer_version = __version__
    onnx.checker.check_model(model, full_check=True)


def _strip(model):
    """Strips debug payload and shortens names."""
    graph = model.graph
    for node in graph.node:
        # Stack traces with local paths and module scopes: tens of KB.
        del node.metadata_props[:]
        node.ClearField("doc_string")
    del graph.value_info[:]
    graph.ClearField("doc_string")
    model.ClearField("doc_string")
    _shorten_names(graph)


def _shorten_names(graph):
    """Renames internal values and nodes; graph inputs and outputs stay."""
    keep = {value.name for value in graph.input}
    keep |= {value.name for value in graph.output}
    renamed = {}
    for initializer in graph.initializer:
        # "student.blocks_full.0.conv.weight" -> "blocks_full.0.conv.weight"
        short = initializer.name.removeprefix("student.").removeprefix("fast.")
        if short in renamed.values() or short in keep:
            short = f"w{len(renamed)}"
        renamed[initializer.name] = short
        initializer.name = short
    counter = 0
    for index, node in enumerate(graph.node):
        node.name = f"n{index}"
        for position, name in enumerate(node.input):
            if name in renamed:
                node.input[position] = renamed[name]
        for position, name in enumerate(node.output):
            if name and name not in keep:
                renamed[name] = f"v{counter}"
                counter += 1
                node.output[position] = renamed[name]


def _session(model_bytes):
    # The gates check the model as the package's runtime runs it.
    return load_session(model_bytes)


def _run(session, wavs, wav_lens):
    return session.run(
        [OUTPUT_NAME],
        {"wavs": wavs.astype(np.float32), "wav_lens": wav_lens},
    )[0]


def _check_parity(
    wrapper, session, held_out, seconds, batch_sizes, tolerance, sample_rate
):
    """onnxruntime float vs PyTorch on real audio at several shapes."""
    source = np.concatenate(held_out)
    results = {}
    for duration in seconds:
        for batch_size in batch_sizes:
            total = max(1, int(round(duration * sample_rate)))
            # Rows start at different offsets; later rows are shorter so
            # the padding and length masking are exercised too.
            fractions = np.linspace(1.0, 0.45, batch_size)
            wavs = np.stack(
                [_crop(source, total, row * 7919) for row in range(batch_size)]
            )
            lengths = np.maximum(np.round(fractions * total), 1) / total
            wavs[np.arange(total)[None, :] >= lengths[:, None] * total] = 0
            wav_lens = lengths.astype(np.float32)
            with torch.no_grad():
                expected = wrapper(
                    torch.from_numpy(wavs), torch.from_numpy(wav_lens)
                ).numpy()
            got = _run(session, wavs, wav_lens)
            difference = float(np.abs(got - expected).max())
            if not np.isfinite(difference):
                difference = math.inf
            results[f"{duration:g}s x{batch_size}"] = difference
    worst = max(results.values())
    if worst > tolerance:
        raise ExportError(
            "float ONNX differs from PyTorch by up to "
            f"{worst:.3g} (tolerance {tolerance:g}): "
            + ", ".join(f"{k}: {v:.3g}" for k, v in results.items())
        )
    return {"max_abs_diff": worst, "tolerance": tolerance, "by_shape": results}


def _framed_by_silence(clips, sample_rate, seconds=0.5):
    """Each clip with ``seconds`` of zeros before and after it."""
    silence = np.zeros(int(seconds * sample_rate), np.float32)
    return [np.concatenate([silence, clip, silence]) for clip in clips]


def _crop(source, length, offset):
    """``length`` samples of ``source`` from ``offset``, tiled if short."""
    repeats = int(math.ceil((length + offset) / len(source))) + 1
    tiled = np.tile(source, repeats) if repeats > 1 else source
    start = offset % len(source)
    return np.ascontiguousarray(tiled[start : start + length])


def _quantize(
    float_model, front_end, mode, calibration_clips=(), channels=None
):
    """int8 weights for the convolutions and the head; front end float.

    ``front_end`` holds the positions of the front end's nodes: the DFT
    and the mel product stay float even where their weights were folded
    into stored constants (quantising them wrecks the output).
    """
    graph = float_model.graph
    initializers = {tensor.name for tensor in graph.initializer}
    # A weight zero-padded in the graph (the fast Wav2Small) is quantised
    # before its padding, whose zeros stay exact.
    padded_from = {
        node.output[0]: node.input[0]
        for node in graph.node
        if node.op_type == "Pad" and node.input[0] in initializers
    }
    targets = {}
    for index, node in enumerate(graph.node):
        if (
            node.op_type not in ("Conv", "Gemm", "MatMul")
            or index in front_end
            or len(node.input) < 2
        ):
            continue
        weight = node.input[1]
        if weight not in initializers and node.op_type == "Conv":
            weight = padded_from.get(weight)
        if weight in initializers:
            targets[weight] = (node.name, _channel_axis(node))
    if not targets:
        raise ExportError("no convolution or linear layer to quantise")
    if mode == "static":
        return quantize_fast_path(
            float_model,
            front_end,
            BranchingWav2Small.FLAG,
            calibration_clips,
            channels=channels,
        )
    if mode == "weights":
        return _quantize_weights(
            float_model, {name: axis for name, (_, axis) in targets.items()}
        )
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "float.onnx")
        output = os.path.join(work, "int8.onnx")
        onnx.save(float_model, source)
        quantize_dynamic(
            source,
            output,
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=[node for node, _ in targets.values()],
            extra_options={"MatMulConstBOnly": True},
        )
        return onnx.load(output)


def _channel_axis(node):
    """Output-channel axis of a layer's weight: 0 for Conv weights and for
    Gemm weights stored transposed, the last for a MatMul right-hand side."""
    if node.op_type == "MatMul":
        return -1
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return 0


def _quantize_weights(float_model, axes):
    """A copy of ``float_model`` with the weights of ``axes`` (name ->
    output-channel axis) in int8 (see :func:`int8_weights`)."""
    model = onnx.ModelProto()
    model.CopyFrom(float_model)
    int8_weights(model.graph, axes)
    return model


def _check_int8(float_session, int8_session, held_out, min_ccc):
    """int8 vs float CCC per dimension over the held-out clips."""
    ones = np.ones(1, dtype=np.float32)
    float_scores = np.concatenate(
        [_run(float_session, clip[None], ones) for clip in held_out]
    )
    int8_scores = np.concatenate(
        [_run(int8_session, clip[None], ones) for clip in held_out]
    )
    if not np.isfinite(int8_scores).all():
        raise ExportError("the int8 model gives NaN or Inf on held-out audio")
    values = ccc(torch.from_numpy(int8_scores), torch.from_numpy(float_scores))
    per_dimension = {
        name: float(value) for name, value in zip(DIMENSIONS, values)
    }
    failing = {
        name: value
        for name, value in per_dimension.items()
        if not value >= min_ccc  # NaN fails too
    }
    if failing:
        raise ExportError(
            f"int8 vs float CCC below {min_ccc} on {len(held_out)} held-out "
            "clips: "
            + ", ".join(f"{k} {v:.5f}" for k, v in failing.items())
            + " (a model whose predictions barely vary across clips, e.g. "
            "untrained, cannot pass; or try the other quantization mode)"
        )
    return {
        "int8_ccc": per_dimension,
        "int8_min_ccc": min_ccc,
        "int8_max_abs_diff": float(np.abs(int8_scores - float_scores).max()),
    }


def _held_out_items(held_out, sample_rate, max_seconds=30.0):
    """The held-out clips as float32 arrays, at most ``max_seconds``."""
    if held_out is None:
        logger.warning(
            "no held-out audio given to the int8 check: using synthetic "
            "voiced signals; pass real held-out speech for a real check"
        )
        items = synthetic_voiced_signals(sample_rate=sample_rate)
    else:
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
    limit = int(max_seconds * sample_rate)
    items = [np.ascontiguousarray(x[:limit], dtype=np.float32) for x in items]
    if len(items) < 8:
        raise ValueError(
            f"the int8 check needs at least 8 held-out clips, got {len(items)}"
        )
    return items


def synthetic_voiced_signals(count=48, sample_rate=SAMPLE_RATE, seed=0):
    """Deterministic speech-like test signals (a fallback held-out set).

    Harmonic sources with a moving pitch (80-300 Hz), a random spectral
    tilt, syllable-rate loudness modulation, breath noise and a random
    level, 1-6 s long.

    Example
    -------
    >>> clips = synthetic_voiced_signals(count=3)
    >>> len(clips), clips[0].dtype
    (3, dtype('float32'))
    """
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(count):
        t = np.arange(int(rng.uniform(1.0, 6.0) * sample_rate)) / sample_rate
        f0 = rng.uniform(80, 300) * (
            1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 2.0) * t)
        )
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        tilt = rng.uniform(0.5, 2.0)
        n_harmonics = int(min(30, (sample_rate / 2) // (f0.max() * 1.2)))
        voiced = sum(
            np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k**tilt
            for k in range(1, n_harmonics + 1)
        )
        syllables = np.sin(np.pi * rng.uniform(2, 6) * t) ** 2
        noise = rng.normal(0, rng.uniform(0.001, 0.1), t.shape)
        clip = rng.uniform(0.05, 0.8) * (voiced * syllables + noise)
        clips.append(clip.astype(np.float32))
    return clips


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_atomically(out_dir, contents):
    """Writes every file or none (as far as the file system allows).

    Each file goes to a hidden temporary file in ``out_dir`` (same file
    system, so the final ``os.replace`` is atomic); files already there
    are moved aside first and restored if anything fails before the end.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    temporary, backups, placed = {}, {}, []
    try:
        for path, data in contents.items():
            handle, temp_name = tempfile.mkstemp(
                dir=out_dir, prefix=f".{path.name}.", suffix=".tmp"
            )
            temporary[path] = temp_name
            # mkstemp makes owner-only files; give the usual permissions.
            os.chmod(temp_name, 0o666 & ~_umask())
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        for path, temp_name in temporary.items():
            if path.exists():
                backup = f"{temp_name}.previous"
                os.replace(path, backup)
                backups[path] = backup
            os.replace(temp_name, path)
            placed.append(path)
    except BaseException:
        for path in placed:
            with contextlib.suppress(OSError):
                os.remove(path)
        for path, backup in backups.items():
            with contextlib.suppress(OSError):
                os.replace(backup, path)
        for temp_name in temporary.values():
            with contextlib.suppress(OSError):
                os.remove(temp_name)
        raise
    for backup in backups.values():
        with contextlib.suppress(OSError):
            os.remove(backup)
