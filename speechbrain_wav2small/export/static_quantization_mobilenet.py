"""int8 arithmetic for the MobileNet students: calibrated static quantisation.

A MobileNet is exported as one graph (no fast form), so its static int8
model is onnxruntime's own pipeline on that graph:

1. ``quant_pre_process`` (onnxruntime's basic graph optimisations): every
   BatchNorm is folded into its convolution, so each convolution, with its
   norm, becomes one int8 kernel;
2. ``quantize_static`` (QDQ format, MinMax calibration on the clips of
   :func:`~speechbrain_wav2small.export.gates.calibration_clips`, the
   held-out speech and the same speech framed by digital silence): uint8
   activations and int8 weights per output channel for every convolution
   of the backbone (squeeze-and-excitation and head included) and the
   ReLUs that follow them. onnxruntime runs these as ``QLinearConv``
   (ReLU folded into the output range) and the residual additions between
   two of them as ``QLinearAdd``; :func:`int8_convolutions` counts what
   it runs.

What stays float: the front end and the stem, the first convolution,
which reads the log-mel image itself (quantising the log-mel input wrecks
it), the hard-swish and hard-sigmoid activations, the length masks, the
means (squeeze-and-excitation, global pooling) and the classifier, whose
weights are stored in int8 all the same. The pre-processing also folds
the front end's DFT basis and mel filterbank, which the float graph
computes, into stored float constants (about 100 KB).

The calibration includes digital silence, as Wav2Small's does: a model
calibrated on speech alone clips in silence. The log-mel floor of silence
lies far below speech, and through a deep backbone it can widen the
activation ranges far beyond those of speech (up to about 100 times, in
the last blocks of a fitted but untrained mobilenetv3_small, whose static
model then fails the gate); the gate decides.

The weights use 7 of their 8 bits (``reduce_range``): on x86 CPUs without
VNNI, onnxruntime's uint8 x int8 kernels add pairs of products in 16 bits,
which saturate on full-range weights. There the embeddings of a fitted
mobilenetv3_small with 8-bit weights differed from what its own QDQ graph
computes in float by 69% of their norm (median of 24 clips); with 7-bit
weights they agree to the last bit, and the kernels stay the fast ones. A
file calibrated and gated on a VNNI machine (where the 8-bit weights do not
saturate) would otherwise fail silently on an older one.

Static int8 is only kept when it passes the int8 gate (CCC vs float
>= 0.999 on held-out speech); ``"auto"`` falls back to int8 weights
otherwise (:mod:`~speechbrain_wav2small.export.quantization`).

Authors
 * speechbrain-wav2small contributors 2026
"""

import os
import tempfile

import onnx
import onnxruntime
from onnxruntime.quantization import (
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from speechbrain_wav2small.export.graph import shorten_names
from speechbrain_wav2small.export.static_quantization import (
    CalibrationClips,
    dequantize_leftover_weights,
    drop_zero_points,
    on_files,
    share_identical_constants,
    without_advice,
)

#: Operators given int8 inputs and outputs (a ReLU right after a
#: convolution becomes its output range).
QUANTIZED_OPERATORS = ("Conv", "Relu")

#: Convolutions onnxruntime runs in int8, and those it runs in float, by
#: the operator names of its optimised graph.
INT8_CONVOLUTIONS = ("QLinearConv", "ConvInteger")
FLOAT_CONVOLUTIONS = ("Conv", "FusedConv")


def quantize_mobilenet(model, front_end, calibration_clips):
    """Static int8 quantisation of a student exported as one graph.

    Arguments
    ---------
    model : onnx.ModelProto
        The float graph as traced
        (:func:`~speechbrain_wav2small.export.tracing.export_graph`).
    front_end : set of int
        Positions of the front end's nodes in ``model`` (kept float).
    calibration_clips : list of numpy.ndarray
        1-D float32 arrays of speech at the model's rate.

    Returns
    -------
    onnx.ModelProto
        The quantised graph, same inputs and outputs; ``model`` is left
        untouched.

    Example
    -------
    A traced MobileNet is needed, so this is not run as a doctest::

        int8_model = quantize_mobilenet(float_model, front_end, clips)
    """
    front_end_names = {model.graph.node[index].name for index in front_end}
    prepared = _fold_batch_norms(model)
    # Folding keeps the names of the nodes it keeps (the traced graph
    # names every node), so the front end is still found by name.
    convolutions = [
        node
        for node in prepared.graph.node
        if node.op_type == "Conv" and node.name not in front_end_names
    ]
    if not convolutions:
        raise ValueError("no convolution outside the front end to quantise")
    exclude = [
        node.name
        for node in prepared.graph.node
        if node.name in front_end_names
    ]
    exclude.append(convolutions[0].name)  # the stem
    with without_advice():
        quantized = on_files(
            quantize_static,
            prepared,
            CalibrationClips(calibration_clips),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPERATORS),
            nodes_to_exclude=exclude,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    dequantize_leftover_weights(quantized)
    drop_zero_points(quantized)
    share_identical_constants(quantized)
    shorten_names(quantized.graph, prefix="q", min_length=4)
    del quantized.graph.value_info[:]  # the quantiser's shape annotations
    _keep_used_domains(quantized)
    return quantized


def int8_convolutions(model):
    """How many convolutions onnxruntime runs in int8, of how many.

    Counts the operators of the graph onnxruntime runs after its own
    optimisations (``SessionOptions.optimized_model_filepath``, at the
    level that fuses QDQ groups into int8 kernels), so a convolution
    counts as int8 only when onnxruntime really runs an int8 kernel for
    it.

    Arguments
    ---------
    model : onnx.ModelProto, bytes, str or os.PathLike
        An ONNX model, its bytes or its file.

    Returns
    -------
    dict
        ``int8`` (convolutions run in int8), ``float`` (run in float) and
        ``total``.

    Example
    -------
    >>> import numpy as np
    >>> from onnx import helper, numpy_helper
    >>> weight = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Conv", ["x", "w"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", 1, [1, 1, 5, 5])],
    ...     [helper.make_tensor_value_info("y", 1, [1, 2, 3, 3])], [weight])
    >>> model = helper.make_model(
    ...     graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    >>> int8_convolutions(model)
    {'int8': 0, 'float': 1, 'total': 1}
    """
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    elif not isinstance(model, bytes):
        model = os.fspath(model)
    options = onnxruntime.SessionOptions()
    # The extended level fuses the QDQ groups; the next one would rewrite
    # float convolutions into a CPU-specific layout with other names.
    options.graph_optimization_level = (
        onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    )
    with tempfile.TemporaryDirectory() as work:
        options.optimized_model_filepath = os.path.join(work, "run.onnx")
        onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        optimised = onnx.load(options.optimized_model_filepath)
    kinds = [node.op_type for node in optimised.graph.node]
    counts = {
        "int8": sum(kind in INT8_CONVOLUTIONS for kind in kinds),
        "float": sum(kind in FLOAT_CONVOLUTIONS for kind in kinds),
    }
    counts["total"] = counts["int8"] + counts["float"]
    return counts


def _fold_batch_norms(model):
    """``model`` after onnxruntime's quantisation pre-processing: its basic
    optimisations (BatchNorm folded into convolutions, constants folded)
    and ONNX shape inference. The symbolic shape inference it can also
    run is skipped: it cannot follow the front end's dynamic frame count,
    and nothing after needs it."""
    with tempfile.TemporaryDirectory() as work:
        # From a file: given a model in memory it writes the weights to
        # external files of its own and cannot read them back.
        source = os.path.join(work, "float.onnx")
        target = os.path.join(work, "prepared.onnx")
        onnx.save(model, source)
        quant_pre_process(source, target, skip_symbolic_shape=True)
        return onnx.load(target)


def _keep_used_domains(model):
    """Drops the operator domains onnxruntime's optimiser declared but no
    node uses (training, preview, its internal layouts).

    Example
    -------
    >>> from onnx import helper
    >>> model = helper.make_model(
    ...     helper.make_graph(
    ...         [helper.make_node("Relu", ["x"], ["y"])], "g", [], []),
    ...     opset_imports=[helper.make_opsetid("", 18),
    ...                    helper.make_opsetid("ai.onnx.training", 1)])
    >>> _keep_used_domains(model)
    >>> [entry.domain for entry in model.opset_import]
    ['']
    """
    used = {node.domain for node in model.graph.node} | {""}
    kept = [entry for entry in model.opset_import if entry.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
