"""ONNX graph surgery the exporter needs and no library offers.

:func:`branch_on_flag` turns a graph with two candidate outputs and a flag
into one with a single output: the nodes only the second candidate needs
move into the ``else`` branch of an ``If``, so they run only when the flag
is false. The exporter uses it to skip Wav2Small's length masks for
unpadded batches: both paths read the same weights (one copy in the file),
and the fast path stays in the main graph, where onnxruntime folds its
weights into constants and picks its fastest convolution kernels (it does
not do that inside a branch).

Authors
 * speechbrain-wav2small contributors 2026
"""

import onnx
from onnx import helper


def branch_on_flag(model, flag, then_output, else_output, output_name):
    """``output_name = then_output if flag else else_output``, computing
    ``else_output``'s own nodes only when needed.

    Arguments
    ---------
    model : onnx.ModelProto
        A graph with (at least) the outputs ``flag`` (one boolean),
        ``then_output`` and ``else_output`` (same type and shape).
    flag, then_output, else_output : str
        Names of those outputs.
    output_name : str
        Name of the single output of the returned model.

    Returns
    -------
    onnx.ModelProto
        A new model; ``model`` is left untouched.

    Example
    -------
    >>> import numpy as np
    >>> from onnx import numpy_helper
    >>> nodes = [
    ...     helper.make_node("Mul", ["x", "two"], ["double"]),
    ...     helper.make_node("Mul", ["x", "three"], ["triple"]),
    ...     helper.make_node("ReduceMin", ["x"], ["smallest"], keepdims=0),
    ...     helper.make_node("Greater", ["smallest", "zero"], ["positive"]),
    ... ]
    >>> constants = [numpy_helper.from_array(np.float32(v), name)
    ...              for v, name in ((2, "two"), (3, "three"), (0, "zero"))]
    >>> graph = helper.make_graph(
    ...     nodes, "g", [helper.make_tensor_value_info("x", 1, [2])],
    ...     [helper.make_tensor_value_info(name, kind, shape)
    ...      for name, kind, shape in (("positive", 9, []),
    ...          ("double", 1, [2]), ("triple", 1, [2]))], constants)
    >>> joined = branch_on_flag(helper.make_model(graph), "positive",
    ...                         "double", "triple", "y")
    >>> [node.op_type for node in joined.graph.node]
    ['Mul', 'ReduceMin', 'Greater', 'If']
    """
    graph = model.graph
    outputs = {value.name: value for value in graph.output}
    for name in (flag, then_output, else_output):
        if name not in outputs:
            raise ValueError(f"the graph has no output {name!r}")
    kept = _ancestors(graph, [flag, then_output])
    moved = _ancestors(graph, [else_output]) - kept
    main_nodes = [n for i, n in enumerate(graph.node) if i in kept]
    else_nodes = [n for i, n in enumerate(graph.node) if i in moved]

    result = onnx.ValueInfoProto()
    result.CopyFrom(outputs[then_output])
    then_graph = helper.make_graph(
        [helper.make_node("Identity", [then_output], [f"{then_output}.out"])],
        "unpadded",
        [],
        [_renamed(result, f"{then_output}.out")],
    )
    else_graph = helper.make_graph(
        else_nodes, "padded", [], [_renamed(outputs[else_output])]
    )
    branch = helper.make_node(
        "If",
        [flag],
        [output_name],
        then_branch=then_graph,
        else_branch=else_graph,
    )
    joined = onnx.ModelProto()
    joined.CopyFrom(model)
    del joined.graph.node[:]
    joined.graph.node.extend(main_nodes + [branch])
    del joined.graph.output[:]
    joined.graph.output.append(_renamed(result, output_name))
    return joined


def _renamed(value, name=None):
    copy = onnx.ValueInfoProto()
    copy.CopyFrom(value)
    if name is not None:
        copy.name = name
    return copy


def _ancestors(graph, names):
    """Positions of the nodes needed to compute the values ``names``."""
    producer = {
        output: index
        for index, node in enumerate(graph.node)
        for output in node.output
    }
    needed, stack = set(), list(names)
    while stack:
        index = producer.get(stack.pop())
        if index is None or index in needed:
            continue
        needed.add(index)
        stack.extend(graph.node[index].input)
    return needed


def compact(graph, opset):
    """Drops what a reader does not need, in place, subgraphs included:
    node names, attributes equal to their schema default and the exporter's
    annotations of the inputs and outputs.

    Arguments
    ---------
    graph : onnx.GraphProto
        The graph to compact.
    opset : int
        Version of the default ("") domain, for the schema defaults.

    Example
    -------
    >>> node = helper.make_node("Relu", ["x"], ["y"], name="relu_1")
    >>> graph = helper.make_graph(
    ...     [node], "g", [helper.make_tensor_value_info("x", 1, [2])],
    ...     [helper.make_tensor_value_info("y", 1, [2])])
    >>> compact(graph, 18)
    >>> graph.node[0].name
    ''
    """
    for node in graph.node:
        node.ClearField("name")
        defaults = _schema_defaults(node, opset)
        kept = []
        for attribute in node.attribute:
            if attribute.type in (attribute.GRAPH, attribute.GRAPHS):
                for subgraph in [attribute.g, *attribute.graphs]:
                    compact(subgraph, opset)
            elif defaults.get(attribute.name) == _value(attribute):
                continue
            kept.append(attribute)
        del node.attribute[:]
        node.attribute.extend(kept)
    for value in [*graph.input, *graph.output]:
        del value.metadata_props[:]


def _schema_defaults(node, opset):
    if node.domain not in ("", "ai.onnx"):
        return {}
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return {}
    return {
        name: _value(attribute.default_value)
        for name, attribute in schema.attributes.items()
        if attribute.default_value.name
    }


def _value(attribute):
    value = helper.get_attribute_value(attribute)
    return list(value) if isinstance(value, (list, tuple)) else value
