"""Does Wav2Small fit a hearing-aid-class device? Memory and MACs, counted.

Run from the repository root::

    .venv/bin/python benchmarks/device_budget.py \\
        --out benchmarks/results/device_budget.json

It exports the int8 Wav2Small with random weights, as
``benchmarks/inference.py`` does (the figures depend on the graph, not on
the weights), or reads the int8 ONNX file given with ``--model``. For one
window of ``--seconds`` (3 s, ``[1, 48000]``) it counts, from the ONNX
graph alone:

* the peak working memory of the activations: the graph's nodes run in
  its (topological) order; after each node, every tensor produced and not
  yet read by its last reader is alive, at its own dtype's size (int8
  tensors between QuantizeLinear and DequantizeLinear at 1 byte, float32
  ones at 4); the peak and the node where it happens. Shapes come from
  ONNX shape inference on the fixed input; those it cannot resolve (the
  front end's data-dependent Range/Pad) from one onnxruntime run;
* the weights: the bytes of the initializers, as stored;
* the MACs of Conv, MatMul and Gemm from their shapes, per second of
  audio (what the exported graph runs; ``macs_per_second_pytorch`` is
  :func:`~speechbrain_wav2small.utils.complexity.count_macs` of the
  PyTorch module, for comparison; the graph's figure counts every
  product the exported file runs, the front end's STFT included, and is
  the one a device pays).

It compares them with a 320 KB SRAM budget (hearing-aid-class DSPs) and
states what a frame-by-frame variant needs: the state that
:class:`~speechbrain_wav2small.inference.streaming.StreamingWav2Small`
carries between steps (``peak_carried_elements``, float32), plus one
step's activations (the window's peak scaled to the step, as the
time-axis tensors that dominate it scale linearly).

Authors
 * speechbrain-wav2small contributors 2026
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from speechbrain_wav2small import SAMPLE_RATE  # noqa: E402

#: Hearing-aid-class on-chip memory, in bytes.
SRAM_BUDGET = 320 * 1024

#: Step lengths of the frame-by-frame variant, in seconds.
STEP_SECONDS = (0.02, 0.1, 0.5)


def _itemsize(elem_type):
    """Bytes of one element of an ONNX tensor type."""
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).itemsize


def _subgraph_inputs(node):
    """Outer-scope names that the subgraphs of ``node`` (If, Loop) read."""
    names = set()
    for attribute in node.attribute:
        graphs = list(attribute.graphs)
        if attribute.type == onnx.AttributeProto.GRAPH:
            graphs.append(attribute.g)
        for graph in graphs:
            inner = {o for n in graph.node for o in n.output}
            for inner_node in graph.node:
                names |= {i for i in inner_node.input if i and i not in inner}
                names |= _subgraph_inputs(inner_node)
    return names


def _fixed_input_model(model, samples):
    """A copy of ``model`` whose inputs have the fixed shape of one clip."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for graph_input in model.graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        shape = [1, samples][: len(dims)]
        for dim, size in zip(dims, shape, strict=True):
            dim.Clear()
            dim.dim_value = size
    return model


def tensor_types(model, samples):
    """Shape and element type of every tensor of one ``[1, samples]`` run.

    Arguments
    ---------
    model : onnx.ModelProto
        The model.
    samples : int
        Samples of the clip.

    Returns
    -------
    dict, int
        name -> (shape tuple, ONNX element type), and how many shapes
        shape inference left open (then read from an onnxruntime run).

    Example
    -------
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t"])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    >>> w = numpy_helper.from_array(np.ones((4, 1, 3), np.float32), "w")
    >>> nodes = [
    ...     helper.make_node("Unsqueeze", ["x", "axis"], ["u"]),
    ...     helper.make_node("Conv", ["u", "w"], ["c"]),
    ...     helper.make_node("Relu", ["c"], ["y"]),
    ... ]
    >>> axis = numpy_helper.from_array(np.array([1]), "axis")
    >>> graph = helper.make_graph(nodes, "g", [x], [y], [w, axis])
    >>> model = helper.make_model(graph)
    >>> types, open_shapes = tensor_types(model, 10)
    >>> types["c"], open_shapes
    (((1, 4, 8), 1), 0)
    """
    fixed = _fixed_input_model(model, samples)
    inferred = shape_inference.infer_shapes(fixed, data_prop=True)
    types = {}
    values = [*inferred.graph.value_info, *inferred.graph.output]
    values += list(inferred.graph.input)
    for value in values:
        tensor = value.type.tensor_type
        dims = [
            d.dim_value if d.HasField("dim_value") else None
            for d in tensor.shape.dim
        ]
        if tensor.HasField("shape") and None not in dims:
            types[value.name] = (tuple(dims), tensor.elem_type)
    produced = [o for node in model.graph.node for o in node.output if o]
    missing = [name for name in produced if name not in types]
    if missing:
        types.update(_run_types(fixed, missing, samples))
    return types, len(missing)


def _run_types(model, names, samples):
    """Shapes and types of ``names``, read from one onnxruntime run."""
    import onnxruntime

    extended = onnx.ModelProto.FromString(model.SerializeToString())
    have = {o.name for o in extended.graph.output}
    for name in names:
        if name not in have:
            extended.graph.output.append(
                helper.make_empty_tensor_value_info(name)
            )
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = (
        onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    session = onnxruntime.InferenceSession(
        extended.SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )
    rng = np.random.default_rng(0)
    feeds = {}
    for graph_input in session.get_inputs():
        if len(graph_input.shape) == 2:
            feeds[graph_input.name] = (
                0.1 * rng.standard_normal((1, samples))
            ).astype(np.float32)
        else:
            feeds[graph_input.name] = np.ones(1, np.float32)
    outputs = session.run(names, feeds)
    return {
        name: (
            tuple(value.shape),
            helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype),
        )
        for name, value in zip(names, outputs, strict=True)
    }


def activation_peak(model, types):
    """Peak bytes of the tensors alive at once, and where.

    Arguments
    ---------
    model : onnx.ModelProto
        The model (nodes in topological order, as ONNX requires).
    types : dict
        name -> (shape, element type), from :func:`tensor_types`.

    Returns
    -------
    dict
        ``peak_bytes``, ``peak_node`` (name and op type), ``peak_int8_bytes``
        (int8 and uint8) and ``peak_float32_bytes`` (the alive tensors'
        split at the peak),
        ``largest_tensor`` (name, shape, dtype, bytes).

    Example
    -------
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t"])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    >>> w = numpy_helper.from_array(np.ones((4, 1, 3), np.float32), "w")
    >>> nodes = [
    ...     helper.make_node("Unsqueeze", ["x", "axis"], ["u"]),
    ...     helper.make_node("Conv", ["u", "w"], ["c"]),
    ...     helper.make_node("Relu", ["c"], ["y"]),
    ... ]
    >>> axis = numpy_helper.from_array(np.array([1]), "axis")
    >>> graph = helper.make_graph(nodes, "g", [x], [y], [w, axis])
    >>> model = helper.make_model(graph)
    >>> types, open_shapes = tensor_types(model, 10)
    >>> peak = activation_peak(model, types)
    >>> peak["peak_bytes"], peak["peak_node"]  # c and y, 32 floats each
    (256, '#2 (Relu)')
    """
    graph = model.graph
    weights = {t.name for t in graph.initializer}
    nodes = list(graph.node)
    last_read = {}
    for index, node in enumerate(nodes):
        for name in [*node.input, *_subgraph_inputs(node)]:
            if name and name not in weights:
                last_read[name] = index
    end = len(nodes)
    for output in graph.output:
        last_read[output.name] = end

    def size(name):
        """Bytes of one tensor."""
        shape, elem_type = types[name]
        return int(np.prod(shape, dtype=np.int64)) * _itemsize(elem_type)

    alive = {i.name for i in graph.input if i.name not in weights}
    best = {"peak_bytes": -1}
    for index, node in enumerate(nodes):
        alive |= {o for o in node.output if o}
        total = sum(size(name) for name in alive)
        if total > best["peak_bytes"]:
            # The quantized activations are uint8, the weights int8: both
            # are 8-bit ("int8" in the report).
            split = {TensorProto.INT8: 0, TensorProto.FLOAT: 0}
            for name in alive:
                elem_type = types[name][1]
                if elem_type == TensorProto.UINT8:
                    elem_type = TensorProto.INT8
                if elem_type in split:
                    split[elem_type] += size(name)
            best = {
                "peak_bytes": total,
                "peak_node": f"{node.name or f'#{index}'} ({node.op_type})",
                "peak_node_index": index,
                "peak_int8_bytes": split[TensorProto.INT8],
                "peak_float32_bytes": split[TensorProto.FLOAT],
                "alive_at_peak": len(alive),
            }
        alive = {n for n in alive if last_read.get(n, -1) > index}
    produced = [o for n in nodes for o in n.output if o]
    largest = max(produced, key=size)
    shape, elem_type = types[largest]
    best["largest_tensor"] = {
        "name": largest,
        "shape": list(shape),
        "dtype": helper.tensor_dtype_to_np_dtype(elem_type).name,
        "bytes": size(largest),
    }
    return best


def graph_macs(model, types):
    """Multiply-accumulates of the Conv, MatMul and Gemm nodes.

    Arguments
    ---------
    model : onnx.ModelProto
        The model.
    types : dict
        name -> (shape, element type) of the activations.

    Returns
    -------
    int
        The MACs of one run.

    Example
    -------
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t"])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    >>> w = numpy_helper.from_array(np.ones((4, 1, 3), np.float32), "w")
    >>> nodes = [
    ...     helper.make_node("Unsqueeze", ["x", "axis"], ["u"]),
    ...     helper.make_node("Conv", ["u", "w"], ["c"]),
    ...     helper.make_node("Relu", ["c"], ["y"]),
    ... ]
    >>> axis = numpy_helper.from_array(np.array([1]), "axis")
    >>> graph = helper.make_graph(nodes, "g", [x], [y], [w, axis])
    >>> model = helper.make_model(graph)
    >>> types, open_shapes = tensor_types(model, 10)
    >>> graph_macs(model, types)  # 4 x 8 outputs, 3 taps each
    96
    """
    shapes = {name: shape for name, (shape, _) in types.items()}
    for tensor in model.graph.initializer:
        shapes[tensor.name] = tuple(tensor.dims)
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            out = shapes[node.output[0]]
            kernel = shapes[node.input[1]]  # [out, in / group, *k]
            total += int(np.prod(out)) * int(np.prod(kernel[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            a, out = shapes[node.input[0]], shapes[node.output[0]]
            transposed = node.op_type == "Gemm" and any(
                x.name == "transA" and x.i for x in node.attribute
            )
            inner = a[-2] if transposed else a[-1]
            total += int(np.prod(out)) * int(inner)
    return total


def carried_state_bytes(step_seconds):
    """Bytes (float32) of the state the streaming Wav2Small carries
    between steps of ``step_seconds`` (the most over a 1 s stream: it
    does not grow with the stream's length)."""
    import torch

    from speechbrain_wav2small.inference.streaming import StreamingWav2Small
    from speechbrain_wav2small.students import build_student

    torch.manual_seed(0)
    model = build_student("wav2small").eval()
    streamer = StreamingWav2Small(model, chunk_seconds=step_seconds)
    wav = 0.1 * torch.randn(SAMPLE_RATE)
    streamer.predict_chunks(lambda: wav.split(1000))
    return 4 * streamer.peak_carried_elements


def pytorch_macs_per_second():
    """MACs per second of audio of the PyTorch Wav2Small (count_macs)."""
    from speechbrain_wav2small.students import build_student
    from speechbrain_wav2small.utils.complexity import count_macs

    return count_macs(build_student("wav2small"), seconds=1.0)


def export_int8(folder):
    """Exports the int8 Wav2Small with random weights (as
    ``benchmarks/inference.py`` does); returns the file's path."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import inference

    model = inference.build_model("wav2small")
    _, int8_path, _ = inference.export_student(model, "wav2small", folder)
    return Path(int8_path)


def measure(model_path=None, seconds=3.0, steps=STEP_SECONDS):
    """The device budget of one window (see module docstring).

    Arguments
    ---------
    model_path : str or os.PathLike, optional
        An int8 Wav2Small ONNX file; exported with random weights when
        omitted.
    seconds : float
        Window length.
    steps : tuple of float
        Step lengths of the frame-by-frame variant.

    Returns
    -------
    dict
        The report written to the JSON file.
    """
    label = str(model_path)
    with tempfile.TemporaryDirectory() as folder:
        if model_path is None:
            model_path = export_int8(Path(folder))
            label = "wav2small int8, random weights (export_onnx)"
        model = onnx.load(str(model_path))
    samples = int(round(seconds * SAMPLE_RATE))
    types, from_runtime = tensor_types(model, samples)
    peak = activation_peak(model, types)
    weights = sum(
        numpy_helper.to_array(t).nbytes for t in model.graph.initializer
    )
    macs = graph_macs(model, types)
    whole = peak["peak_bytes"] + weights
    streaming = []
    for step in steps:
        carried = carried_state_bytes(step)
        activations = int(np.ceil(peak["peak_bytes"] * step / seconds))
        total = carried + activations + weights
        streaming.append(
            {
                "step_seconds": step,
                "carried_state_bytes": carried,
                "step_activation_bytes_estimate": activations,
                "total_bytes": total,
                "fits": total <= SRAM_BUDGET,
            }
        )
    return {
        "model": label,
        "window_seconds": seconds,
        "input_shape": [1, samples],
        "shapes_from_runtime": from_runtime,
        "activations": peak,
        "weights_bytes": weights,
        "macs_per_window": macs,
        "macs_per_second": macs / seconds,
        "macs_per_second_pytorch": pytorch_macs_per_second(),
        "sram_budget_bytes": SRAM_BUDGET,
        "whole_window_bytes": whole,
        "whole_window_fits": whole <= SRAM_BUDGET,
        "whole_window_excess_bytes": max(whole - SRAM_BUDGET, 0),
        "whole_window_excess_factor": whole / SRAM_BUDGET,
        "streaming": streaming,
    }


def table(report):
    """The report as a plain-text table."""
    kb = 1024
    act = report["activations"]
    rows = [
        ("activations peak", f"{act['peak_bytes'] / kb:,.1f} KB"),
        ("  of which int8", f"{act['peak_int8_bytes'] / kb:,.1f} KB"),
        ("  of which float32", f"{act['peak_float32_bytes'] / kb:,.1f} KB"),
        ("  at node", act["peak_node"]),
        (
            "largest tensor",
            f"{act['largest_tensor']['bytes'] / kb:,.1f} KB "
            f"{act['largest_tensor']['dtype']} "
            f"{act['largest_tensor']['shape']}",
        ),
        ("weights", f"{report['weights_bytes'] / kb:,.1f} KB"),
        ("MACs per second", f"{report['macs_per_second'] / 1e6:,.2f} M"),
        (
            "  PyTorch count_macs",
            f"{report['macs_per_second_pytorch'] / 1e6:,.2f} M",
        ),
        (
            "whole window + weights",
            f"{report['whole_window_bytes'] / kb:,.1f} KB vs "
            f"{report['sram_budget_bytes'] / kb:.0f} KB: "
            + (
                "fits"
                if report["whole_window_fits"]
                else f"{report['whole_window_excess_factor']:.1f}x over"
            ),
        ),
    ]
    for step in report["streaming"]:
        rows.append(
            (
                f"frame-by-frame, {step['step_seconds']} s steps",
                f"{step['total_bytes'] / kb:,.1f} KB (state "
                f"{step['carried_state_bytes'] / kb:,.1f} KB): "
                + ("fits" if step["fits"] else "does not fit"),
            )
        )
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv=None):
    """Command line: measures, prints the table, writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="int8 ONNX file (default: export)")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="window (default 3 s)"
    )
    parser.add_argument(
        "--steps",
        type=float,
        nargs="+",
        default=list(STEP_SECONDS),
        help="step lengths of the frame-by-frame variant, in seconds",
    )
    parser.add_argument(
        "--out", default=str(REPO / "benchmarks/results/device_budget.json")
    )
    args = parser.parse_args(argv)
    report = measure(args.model, args.seconds, tuple(args.steps))
    print(table(report))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
