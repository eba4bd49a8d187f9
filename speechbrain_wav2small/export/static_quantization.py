"""int8 arithmetic for the fast Wav2Small path: calibrated static quantisation.

onnxruntime's static quantisation (``quantize_static``, QDQ format,
MinMax calibration) gives every 3x3 convolution after the first uint8
activations and int8 weights (per output channel), so onnxruntime runs
them as ``QLinearConv`` with its VNNI/AVX-512 int8 kernels: about 1.4x the
float speed of the fast form on a 10 s clip (``benchmarks/inference.py``).
What stays float: the front end (quantising the log-mel input wrecks it),
the first convolution (one input channel: its int8 kernel is slower than
the float one), the attention softmax and the head.

Two things are done around the library call so the file stays small:

* the fast form pads its weights to 16 channels inside the graph; they are
  padded for the quantiser (which needs stored weights) and afterwards the
  stored int8 tensors are cut back to the trained size with a ``Pad`` in
  the graph, which onnxruntime folds into a constant when it loads the
  model;
* identical small constants (zero points, shapes) are stored once.

Only the unmasked path (of
:class:`~speechbrain_wav2small.export.wrappers.BranchingWav2Small`) gets
int8 activations; the masked path for padded batches reads the same int8
weights, dequantised.

The calibration data (:class:`CalibrationClips`), the call on files
(:func:`on_files`) and the tidying after the quantiser
(:func:`dequantize_leftover_weights`, :func:`drop_zero_points`,
:func:`share_identical_constants`) are also those of the MobileNets'
static path
(:mod:`~speechbrain_wav2small.export.static_quantization_mobilenet`).

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib
import logging
import os
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from speechbrain_wav2small.export.graph import (
    ancestors,
    int8_weights,
    shorten_names,
)
from speechbrain_wav2small.utils.model_files import LENGTHS_INPUT, WAVS_INPUT


class _DropAdvice(logging.Filter):
    """Drops the quantiser's advice to run its shape pre-processing (the
    exported graph already carries what it would add)."""

    def filter(self, record):
        """False for the advice, True for anything else."""
        return "before quantization" not in record.getMessage()


@contextlib.contextmanager
def without_advice():
    """Drops onnxruntime's advice to pre-process the model, logged by its
    quantisers, for the block.

    Example
    -------
    >>> with without_advice():
    ...     logging.getLogger().warning("run it before quantization")
    """
    root = logging.getLogger()
    advice = _DropAdvice()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)


class CalibrationClips(CalibrationDataReader):
    """The calibration data of every static quantisation: one clip at a
    time (batch 1, unpadded), as the ONNX inputs ``wavs`` and ``wav_lens``.

    Arguments
    ---------
    clips : list of numpy.ndarray
        1-D float arrays of speech at the model's rate.

    Example
    -------
    >>> reader = CalibrationClips([np.zeros(800), np.zeros(400)])
    >>> feed = reader.get_next()
    >>> feed["wavs"].shape, feed["wav_lens"].tolist()
    ((1, 800), [1.0])
    >>> reader.get_next()["wavs"].shape, reader.get_next()
    ((1, 400), None)
    """

    def __init__(self, clips):
        """Feeds ``clips`` (1-D float arrays), each with length 1.0."""
        ones = np.ones(1, np.float32)
        self._feeds = iter(
            {WAVS_INPUT: np.asarray(c, np.float32)[None], LENGTHS_INPUT: ones}
            for c in clips
        )

    def get_next(self):
        """The next feed, or None after the last clip."""
        return next(self._feeds, None)


def quantize_fast_path(model, front_end, flag, calibration_clips, channels):
    """Static int8 quantisation of the unmasked path of ``model``.

    Arguments
    ---------
    model : onnx.ModelProto
        The float graph of ``BranchingWav2Small`` (before the ``If``),
        weights zero-padded in the graph by ``Pad`` nodes.
    front_end : set
        Positions of the front end's nodes (kept float).
    flag : str
        Name of the flag of the ``Where`` that picks the unmasked path
        (its first operand) or the masked one.
    calibration_clips : list
        1-D float32 arrays of speech at the model's rate.
    channels : int
        The trained channel count (weights are cut back to it).

    Returns
    -------
    onnx.ModelProto
        The quantised graph, same inputs and outputs.

    Example
    -------
    An exported graph is needed, so this is not run as a doctest::

        int8_model = quantize_fast_path(
            float_model, front_end, BranchingWav2Small.FLAG, clips, 8
        )
    """
    model = _fold_weight_padding(model)
    graph = model.graph
    (where,) = [
        node
        for node in graph.node
        if node.op_type == "Where" and node.input[0] == flag
    ]
    fast_nodes = ancestors(graph, [where.input[1]])
    convs = [
        index
        for index, node in enumerate(graph.node)
        if node.op_type == "Conv" and index not in front_end
    ]
    first_conv = min(index for index in convs if index in fast_nodes)
    first_weight = graph.node[first_conv].input[1]
    exclude = [
        node.name
        for index, node in enumerate(graph.node)
        if index in front_end
        or index not in fast_nodes
        or (node.op_type == "Conv" and node.input[1] == first_weight)
        # The attention's 1x1 projections feed a float softmax: int8 would
        # save little time and cost a QDQ pair and a bias scale each.
        or (node.op_type == "Conv" and _kernel_size(node) == [1, 1])
    ]
    with without_advice():
        quantized = on_files(
            quantize_static,
            model,
            CalibrationClips(calibration_clips),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv", "Relu", "MaxPool"],
            nodes_to_exclude=exclude,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    dequantize_leftover_weights(quantized)
    drop_zero_points(quantized)
    _cut_padding(quantized, channels)
    share_identical_constants(quantized)
    # The quantiser's long names (v12_DequantizeLinear_Output...) become
    # q0, q1...
    shorten_names(quantized.graph, prefix="q", min_length=4)
    del quantized.graph.value_info[:]  # the quantiser's shape annotations
    return quantized


def on_files(quantizer, model, *args, **options):
    """Runs one of onnxruntime's quantisers, which read the float model from
    a file and write the int8 one to a file, on ``model`` in memory:
    ``quantizer(source, target, *args, **options)``; returns the int8 model.

    Example
    -------
    >>> from onnxruntime.quantization import quantize_dynamic
    >>> weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    >>> graph = helper.make_graph(
    ...     [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", 1, [1, 4])],
    ...     [helper.make_tensor_value_info("y", 1, [1, 4])], [weight])
    >>> model = helper.make_model(
    ...     graph, opset_imports=[helper.make_opsetid("", 18)])
    >>> int8_model = on_files(quantize_dynamic, model)
    >>> "MatMulInteger" in [node.op_type for node in int8_model.graph.node]
    True
    """
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "float.onnx")
        target = os.path.join(work, "int8.onnx")
        onnx.save(model, source)
        quantizer(source, target, *args, **options)
        return onnx.load(target)


def _kernel_size(node):
    """A convolution's ``kernel_shape`` as a list (None if not set)."""
    for attribute in node.attribute:
        if attribute.name == "kernel_shape":
            return list(attribute.ints)
    return None


def _fold_weight_padding(model):
    """Replaces ``Pad(initializer)`` by a stored padded initializer."""
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    stored = {t.name: t for t in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == "Pad" and all(
            name in stored for name in node.input if name
        ):
            data = numpy_helper.to_array(stored[node.input[0]])
            pads = numpy_helper.to_array(stored[node.input[1]])
            half = len(pads) // 2
            padded = np.pad(
                data, list(zip(pads[:half], pads[half:], strict=True))
            )
            graph.initializer.append(
                numpy_helper.from_array(padded, node.output[0])
            )
            continue
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in graph.node for name in node.input}
    for tensor in list(graph.initializer):
        if tensor.name not in used:
            graph.initializer.remove(tensor)
    return model_copy


def dequantize_leftover_weights(model):
    """Float weights the quantiser left (first conv, masked path, head)
    become int8 + DequantizeLinear too, so no weight is stored in float.

    Edits ``model`` in place: every stored 4-D convolution weight and the
    weight of every ``Gemm`` stored transposed (a front end's 3-D
    DFT weight, when folded, stays float).

    Example
    -------
    >>> weight = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Conv", ["x", "w"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", 1, [1, 1, 5, 5])],
    ...     [helper.make_tensor_value_info("y", 1, [1, 2, 3, 3])], [weight])
    >>> model = helper.make_model(graph)
    >>> dequantize_leftover_weights(model)
    >>> [node.op_type for node in model.graph.node]
    ['DequantizeLinear', 'Conv']
    """
    graph = model.graph
    stored = {t.name: t for t in graph.initializer}
    axes = {}
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm") or node.input[1] not in stored:
            continue
        if node.op_type == "Gemm" and not any(
            a.name == "transB" and a.i == 1 for a in node.attribute
        ):
            continue
        # The front end's DFT (a 3-D Conv1d weight, when folded) stays float.
        if node.op_type == "Conv" and len(stored[node.input[1]].dims) != 4:
            continue
        axes[node.input[1]] = 0
    int8_weights(graph, axes)


def _cut_padding(model, channels):
    """Stores zero-padded per-channel tensors at the trained size, padded
    again in the graph (folded to a constant by onnxruntime at load).

    A tensor is cut when everything beyond ``channels`` on its first two
    axes is zero (weights, biases, zero points: re-padded with zeros), and
    the scale of a cut int8 weight is cut too (re-padded with ones: it only
    multiplies zeros).
    """
    graph = model.graph
    stored = {t.name: t for t in graph.initializer}
    fills = {}
    for name, tensor in stored.items():
        array = numpy_helper.to_array(tensor)
        if array.ndim != 4:
            continue  # a Pad node costs more than the few values it saves
        kept = _kept(array, channels)
        if kept is not None and not _nonzero_outside(array, kept):
            fills[name] = 0
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in fills:
            scale = node.input[1]
            if scale in stored and scale not in fills:
                array = numpy_helper.to_array(stored[scale])
                if array.ndim == 1 and _kept(array, channels) is not None:
                    fills[scale] = 1
    pad_nodes = []
    for name, fill in fills.items():
        tensor = stored[name]
        array = numpy_helper.to_array(tensor)
        kept = _kept(array, channels)
        pads = [0] * array.ndim + [
            full - cut
            for full, cut in zip(array.shape, kept.shape, strict=True)
        ]
        graph.initializer.remove(tensor)
        base = f"{name}.cut"
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.ascontiguousarray(kept), base),
                numpy_helper.from_array(np.int64(pads), f"{base}.pads"),
                numpy_helper.from_array(
                    np.array(fill, dtype=array.dtype), f"{base}.fill"
                ),
            ]
        )
        pad_nodes.append(
            helper.make_node(
                "Pad", [base, f"{base}.pads", f"{base}.fill"], [name]
            )
        )
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(pad_nodes + nodes)


def _kept(array, channels):
    """``array`` cut to ``channels`` on its first two axes, or None when
    neither axis is longer."""
    if array.ndim == 0 or array.shape[0] <= channels:
        return None
    cut = tuple(
        slice(0, channels) if axis < 2 and size > channels else slice(None)
        for axis, size in enumerate(array.shape)
    )
    return array[cut]


def _nonzero_outside(array, kept):
    """Whether ``array`` holds a nonzero value outside its cut ``kept``."""
    rest = array.copy()
    rest[tuple(slice(0, size) for size in kept.shape)] = 0
    return bool(rest.any())


def drop_zero_points(model):
    """Removes the all-zero per-channel zero points of int8 weights (an
    optional input, zero by default), in place. Scalar zero points stay:
    onnxruntime only fuses a Quantize/Dequantize pair around an operator
    (the max pool computed in uint8) when both carry one.

    Example
    -------
    >>> stored = [
    ...     numpy_helper.from_array(np.int8([[1], [2]]), "w"),
    ...     numpy_helper.from_array(np.float32([0.1, 0.2]), "scale"),
    ...     numpy_helper.from_array(np.int8([0, 0]), "zero")]
    >>> node = helper.make_node(
    ...     "DequantizeLinear", ["w", "scale", "zero"], ["y"])
    >>> graph = helper.make_graph(
    ...     [node], "g", [], [helper.make_tensor_value_info("y", 1, [2, 1])],
    ...     stored)
    >>> model = helper.make_model(graph)
    >>> drop_zero_points(model)
    >>> list(model.graph.node[0].input), len(model.graph.initializer)
    (['w', 'scale'], 2)
    """
    graph = model.graph
    stored = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 3:
            continue
        zero_point = stored.get(node.input[2])
        if zero_point is None or len(zero_point.dims) != 1:
            continue
        if not numpy_helper.to_array(zero_point).any():
            del node.input[2]
    used = {name for node in graph.node for name in node.input}
    for tensor in list(graph.initializer):
        if tensor.name not in used:
            graph.initializer.remove(tensor)


def share_identical_constants(model, max_bytes=256):
    """Stores small identical initializers (up to ``max_bytes``) once, in
    place; the nodes that read a dropped copy read the kept one.

    Example
    -------
    >>> stored = [numpy_helper.from_array(np.float32([2.0]), name)
    ...           for name in ("a", "b")]
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Add", ["a", "b"], ["y"])], "g", [],
    ...     [helper.make_tensor_value_info("y", 1, [1])], stored)
    >>> model = helper.make_model(graph)
    >>> share_identical_constants(model)
    >>> list(model.graph.node[0].input), len(model.graph.initializer)
    (['a', 'a'], 1)
    """
    graph = model.graph
    first, renamed = {}, {}
    for tensor in list(graph.initializer):
        payload = tensor.SerializeToString()
        if len(payload) - len(tensor.name) > max_bytes:
            continue
        key = (
            tensor.data_type,
            tuple(tensor.dims),
            numpy_helper.to_array(tensor).tobytes(),
        )
        if key in first:
            renamed[tensor.name] = first[key]
            graph.initializer.remove(tensor)
        else:
            first[key] = tensor.name
    for node in graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
