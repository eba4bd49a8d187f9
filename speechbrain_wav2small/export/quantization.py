"""The int8 model of an export: which quantisation, and how.

Modes (:data:`QUANTIZATION_MODES`):

* ``"static"``: uint8 activations calibrated on real held-out audio and
  int8 weights, so onnxruntime runs the convolutions with its int8
  kernels: Wav2Small's 3x3 convolutions
  (:mod:`~speechbrain_wav2small.export.static_quantization`), every
  convolution of a MobileNet's backbone but the stem
  (:mod:`~speechbrain_wav2small.export.static_quantization_mobilenet`);
* ``"weights"``: int8 weights dequantised in the graph, float arithmetic
  (:func:`~speechbrain_wav2small.export.graph.int8_weights`); the int8
  weights cost nothing in accuracy (CCC vs float >= 0.9995 on the test
  students);
* ``"dynamic"``: onnxruntime's dynamic int8 (``ConvInteger``), which lost
  up to 0.002 CCC there;
* ``"auto"``: static given real held-out audio, then weights if static
  fails the int8 gate; weights otherwise (:func:`int8_modes`);
* ``"none"``: no int8 model (float only, no int8 gate).

In every mode the log-mel front end stays float: quantising it wrecks the
output. :data:`QUANTIZATION_MODES` and :data:`MODE_HELP` are the one
definition of the choices: the export, the packaging and every
``wav2small`` command that writes ONNX files take them from here.

Authors
 * speechbrain-wav2small contributors 2026
"""

import json

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from speechbrain_wav2small.export.gates import ExportError
from speechbrain_wav2small.export.graph import int8_weights
from speechbrain_wav2small.export.static_quantization import (
    on_files,
    quantize_fast_path,
)
from speechbrain_wav2small.export.static_quantization_mobilenet import (
    quantize_mobilenet,
)
from speechbrain_wav2small.export.wrappers import BranchingWav2Small
from speechbrain_wav2small.utils.model_files import (
    SESSION_CONFIG_KEY,
    WEIGHTS_ONLY_CONFIG,
)

QUANTIZATION_MODES = ("auto", "static", "weights", "dynamic", "none")

#: The mode used when none is asked for.
DEFAULT_QUANTIZATION = "auto"

#: What each mode gives, in words (the CLI's help is made from these).
MODE_HELP = {
    "auto": "static given held-out audio, falling back to weights if "
    "static fails the int8 gate; weights otherwise",
    "static": "calibrated int8 activations and int8 kernels",
    "weights": "int8 weights, float arithmetic",
    "dynamic": "onnxruntime's dynamic int8",
    "none": "float model only: no int8 file and no int8 check",
}

#: What the ``quantization`` metadata of an int8 file says, per mode.
DESCRIPTIONS = {
    "static": "int8 weights and activations (calibrated), int8 kernels",
    "weights": "int8 weights (per channel, symmetric), float arithmetic",
    "dynamic": "onnxruntime dynamic int8 (per channel)",
}


def modes_help():
    """One sentence per mode, for a command's ``--quantization`` help.

    Example
    -------
    >>> modes_help().split("; ")[-1]
    "'none': float model only: no int8 file and no int8 check"
    """
    return "; ".join(f"{mode!r}: {MODE_HELP[mode]}" for mode in MODE_HELP)


def check_mode(quantization, is_wav2small=None):
    """Raises ``ValueError`` for an unknown mode.

    Every mode is open to every student; ``is_wav2small`` is accepted for
    the callers written when ``"static"`` was for Wav2Small only.

    Example
    -------
    >>> check_mode("static", is_wav2small=False)
    >>> check_mode("int4")
    Traceback (most recent call last):
    ...
    ValueError: quantization must be one of ('auto', 'static', 'weights', \
'dynamic', 'none'), got 'int4'
    """
    if quantization not in QUANTIZATION_MODES:
        raise ValueError(
            f"quantization must be one of {QUANTIZATION_MODES}, "
            f"got {quantization!r}"
        )


def int8_modes(quantization, is_wav2small=None, real_audio=False):
    """The modes to try, in order, until one passes the int8 gate (none
    for ``"none"``).

    Static int8 is only as good as its calibration audio: ``"auto"`` tries
    it, for every student, only with the user's own held-out audio
    (``real_audio``). ``is_wav2small`` is accepted for the callers written
    when static was for Wav2Small only; it changes nothing.

    Example
    -------
    >>> int8_modes("auto", is_wav2small=False, real_audio=True)
    ['static', 'weights']
    >>> int8_modes("auto", is_wav2small=True, real_audio=False)
    ['weights']
    >>> int8_modes("none", is_wav2small=True, real_audio=True)
    []
    """
    if quantization == "none":
        return []
    if quantization != "auto":
        return [quantization]
    return ["static", "weights"] if real_audio else ["weights"]


def quantization_metadata(mode):
    """The metadata an int8 file of ``mode`` adds: its description and, for
    ``"weights"``, the onnxruntime session settings it needs.

    Example
    -------
    >>> sorted(quantization_metadata("weights"))
    ['onnxruntime_session_config', 'quantization']
    """
    metadata = {"quantization": DESCRIPTIONS[mode]}
    if mode == "weights":
        metadata[SESSION_CONFIG_KEY] = json.dumps(WEIGHTS_ONLY_CONFIG)
    return metadata


def quantize(float_model, front_end, mode, calibration_clips=(), channels=None):
    """int8 weights for the convolutions and the head; front end float.

    ``"static"`` quantises a branching graph (Wav2Small's, with the flag
    output of :class:`BranchingWav2Small`) on its fast path
    (:func:`quantize_fast_path`), any other (a MobileNet's) as one graph
    (:func:`quantize_mobilenet`).

    Arguments
    ---------
    float_model : onnx.ModelProto
        The float graph as traced (for Wav2Small, before its ``If``).
    front_end : set of int
        Positions of the front end's nodes: the DFT and the mel product
        stay float even where their weights were folded into stored
        constants (quantising them wrecks the output).
    mode : str
        ``"static"``, ``"weights"`` or ``"dynamic"``.
    calibration_clips : list of numpy.ndarray
        Speech for the static calibration.
    channels : int, optional
        Trained width of a Wav2Small (static only).

    Returns
    -------
    onnx.ModelProto
        A new model; ``float_model`` is left untouched.

    Example
    -------
    An exported model is needed, so this is not run as a doctest::

        int8_model = quantize(float_model, front_end, "weights")
    """
    targets = _weights_to_quantize(float_model.graph, front_end)
    outputs = {value.name for value in float_model.graph.output}
    if mode == "static" and BranchingWav2Small.FLAG not in outputs:
        return quantize_mobilenet(float_model, front_end, calibration_clips)
    if mode == "static":
        return quantize_fast_path(
            float_model,
            front_end,
            BranchingWav2Small.FLAG,
            calibration_clips,
            channels=channels,
        )
    if mode == "weights":
        model = onnx.ModelProto()
        model.CopyFrom(float_model)
        int8_weights(
            model.graph, {name: axis for name, (_, axis) in targets.items()}
        )
        return model
    nodes = [node for node, _ in targets.values()]
    return _quantize_dynamic(float_model, nodes)


def _weights_to_quantize(graph, front_end):
    """Weight name -> (node name, output-channel axis) of every Conv, Gemm
    and MatMul outside the front end whose weight is stored."""
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
    return targets


def _quantize_dynamic(float_model, nodes):
    """onnxruntime's dynamic int8 of ``nodes`` (per channel)."""
    return on_files(
        quantize_dynamic,
        float_model,
        per_channel=True,
        weight_type=QuantType.QInt8,
        nodes_to_quantize=nodes,
        extra_options={"MatMulConstBOnly": True},
    )


def _channel_axis(node):
    """Output-channel axis of a layer's weight: 0 for Conv weights and for
    Gemm weights stored transposed, the last for a MatMul right-hand side.

    Example
    -------
    >>> from onnx import helper
    >>> _channel_axis(helper.make_node("Gemm", ["x", "w", "b"], ["y"]))
    1
    """
    if node.op_type == "MatMul":
        return -1
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return 0
