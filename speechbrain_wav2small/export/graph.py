"""ONNX graph surgery the exporter needs and no library offers.

:func:`lazy_where` turns ``Where(flag, a, b)`` with a one-element flag into
an ``If`` that computes only the operand it returns: ONNX evaluates both
operands of a ``Where``. The exporter uses it to skip Wav2Small's length
masks for unpadded batches. Both paths read the same weights (one copy in
the file), and the fast path stays in the main graph, where onnxruntime
folds its weights into constants and picks its fastest convolution
kernels (it does not do that inside a branch).

:func:`strip_debug_info` and :func:`shorten_names` shrink a file by what a
reader does not need: the exporter's stack traces and annotations, and the
long internal names of the exporter and of the quantiser.

Authors
 * speechbrain-wav2small contributors 2026
"""

import numpy as np
import onnx
from onnx import helper, numpy_helper


def lazy_where(model, flag):
    """Replaces ``Where(flag, then, else)`` by an ``If`` on ``flag`` whose
    else branch holds the nodes only ``else`` needs.

    Arguments
    ---------
    model : onnx.ModelProto
        A graph with an output ``flag`` (one boolean, which is removed from
        the outputs) and exactly one ``Where`` node conditioned on it.
    flag : str
        Name of the flag.

    Returns
    -------
    onnx.ModelProto
        A new model; ``model`` is left untouched.

    Example
    -------
    >>> import numpy as np
    >>> from onnx import numpy_helper
    >>> nodes = [
    ...     helper.make_node("ReduceMin", ["x"], ["smallest"], keepdims=0),
    ...     helper.make_node("Greater", ["smallest", "zero"], ["positive"]),
    ...     helper.make_node("Mul", ["x", "two"], ["double"]),
    ...     helper.make_node("Mul", ["x", "three"], ["triple"]),
    ...     helper.make_node("Where", ["positive", "double", "triple"],
    ...                      ["picked"]),
    ...     helper.make_node("Neg", ["picked"], ["y"]),
    ... ]
    >>> constants = [numpy_helper.from_array(np.float32(v), name)
    ...              for v, name in ((2, "two"), (3, "three"), (0, "zero"))]
    >>> graph = helper.make_graph(
    ...     nodes, "g", [helper.make_tensor_value_info("x", 1, [2])],
    ...     [helper.make_tensor_value_info("y", 1, [2]),
    ...      helper.make_tensor_value_info("positive", 9, [])], constants)
    >>> lazy = lazy_where(helper.make_model(graph), "positive")
    >>> [node.op_type for node in lazy.graph.node]
    ['ReduceMin', 'Greater', 'Mul', 'If', 'Neg']
    >>> [value.name for value in lazy.graph.output]
    ['y']
    """
    graph = model.graph
    wheres = [
        index
        for index, node in enumerate(graph.node)
        if node.op_type == "Where" and node.input[0] == flag
    ]
    if len(wheres) != 1:
        raise ValueError(f"expected one Where on {flag!r}, found {len(wheres)}")
    (position,) = wheres
    where = graph.node[position]
    _, then_value, else_value = where.input
    outputs = [value.name for value in graph.output if value.name != flag]
    # Nodes the outputs need when the Where's else operand is cut off.
    kept = ancestors(graph, outputs, skip=(position, else_value))
    moved = ancestors(graph, [else_value]) - kept
    nodes = list(graph.node)
    branch = helper.make_node(
        "If",
        [flag],
        list(where.output),
        then_branch=helper.make_graph(
            [helper.make_node("Identity", [then_value], ["then.out"])],
            "then",
            [],
            [helper.make_empty_tensor_value_info("then.out")],
        ),
        else_branch=helper.make_graph(
            [nodes[i] for i in sorted(moved)]
            + [helper.make_node("Identity", [else_value], ["else.out"])],
            "else",
            [],
            [helper.make_empty_tensor_value_info("else.out")],
        ),
    )
    lazy = onnx.ModelProto()
    lazy.CopyFrom(model)
    del lazy.graph.node[:]
    lazy.graph.node.extend(
        branch if i == position else node
        for i, node in enumerate(nodes)
        if i not in moved
    )
    kept_outputs = [v for v in lazy.graph.output if v.name != flag]
    del lazy.graph.output[:]
    lazy.graph.output.extend(kept_outputs)
    return lazy


def int8_weights(graph, axes):
    """Stores each weight of ``axes`` (name -> output-channel axis) as int8
    + per-channel scale, read through a DequantizeLinear (symmetric, per
    output channel). Edits ``graph`` in place; the new nodes go first, as
    they read only initializers.

    Example
    -------
    >>> weight = numpy_helper.from_array(np.float32([[1, -2], [0, 0]]), "w")
    >>> graph = helper.make_graph([], "g", [], [], [weight])
    >>> int8_weights(graph, {"w": 0})
    >>> [node.op_type for node in graph.node]
    ['DequantizeLinear']
    >>> numpy_helper.to_array(graph.initializer[0]).tolist()
    [[64, -127], [0, 0]]
    """
    stored = {tensor.name: tensor for tensor in graph.initializer}
    dequantize_nodes = []
    for name, axis in axes.items():
        weight = numpy_helper.to_array(stored[name]).astype(np.float32)
        axis = axis % weight.ndim
        reduce = tuple(i for i in range(weight.ndim) if i != axis)
        scale = np.abs(weight).max(axis=reduce) / 127.0
        scale[scale == 0] = 1.0
        shape = [1] * weight.ndim
        shape[axis] = -1
        quantized = np.clip(
            np.round(weight / scale.reshape(shape)), -127, 127
        ).astype(np.int8)
        graph.initializer.remove(stored[name])
        graph.initializer.extend(
            [
                numpy_helper.from_array(quantized, f"{name}.int8"),
                numpy_helper.from_array(
                    scale.astype(np.float32), f"{name}.scale"
                ),
            ]
        )
        dequantize_nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{name}.int8", f"{name}.scale"],
                [name],
                axis=axis,
            )
        )
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(dequantize_nodes + nodes)


def ancestors(graph, names, skip=None):
    """Positions of the nodes needed to compute the values ``names``;
    ``skip=(position, value)`` ignores that node's input ``value``.

    Example
    -------
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Neg", ["x"], ["a"]),
    ...      helper.make_node("Abs", ["x"], ["b"]),
    ...      helper.make_node("Add", ["a", "a"], ["c"])], "g", [], [])
    >>> sorted(ancestors(graph, ["c"]))
    [0, 2]
    """
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
        inputs = list(graph.node[index].input)
        if skip is not None and index == skip[0]:
            inputs.remove(skip[1])
        stack.extend(inputs)
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
    """Attribute name -> default value of ``node``'s operator schema."""
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
    """An attribute's value, lists and tuples as lists (comparable)."""
    value = helper.get_attribute_value(attribute)
    return list(value) if isinstance(value, (list, tuple)) else value


def strip_debug_info(model):
    """Removes the exporter's debug payload from ``model``, in place: node
    metadata (stack traces with local paths and module scopes: tens of KB),
    doc strings and shape annotations.

    Example
    -------
    >>> node = helper.make_node("Relu", ["x"], ["y"], doc_string="trace")
    >>> graph = helper.make_graph([node], "g", [], [])
    >>> model = helper.make_model(graph)
    >>> strip_debug_info(model)
    >>> model.graph.node[0].doc_string
    ''
    """
    graph = model.graph
    for node in graph.node:
        del node.metadata_props[:]
        node.ClearField("doc_string")
    del graph.value_info[:]
    graph.ClearField("doc_string")
    model.ClearField("doc_string")


def shorten_names(graph, prefix="v", scopes=None, min_length=0):
    """Renames the internal values and nodes of ``graph`` in order.

    Values become ``prefix0``, ``prefix1`` and so on in order of appearance,
    nodes ``n0``, ``n1`` and so on; graph inputs and outputs keep their
    names. Edits ``graph`` in place.

    Arguments
    ---------
    graph : onnx.GraphProto
        A topologically sorted graph.
    prefix : str
        Start of the new value names.
    scopes : tuple of str, optional
        When given, initializers are not renumbered but lose these leading
        scopes (``"student.head.bias"`` -> ``"head.bias"``), so weights stay
        readable; a name that would then clash becomes ``w<k>``.
    min_length : int
        Names this long or shorter are kept.

    Example
    -------
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Neg", ["x"], ["student/neg_output_0"]),
    ...      helper.make_node("Add", ["student/neg_output_0", "student.b"],
    ...                       ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", 1, [1])],
    ...     [helper.make_tensor_value_info("y", 1, [1])],
    ...     [numpy_helper.from_array(np.float32([1]), "student.b")])
    >>> shorten_names(graph, scopes=("student.",))
    >>> [list(node.input) for node in graph.node]
    [['x'], ['v0', 'b']]
    >>> shorten_names(graph, prefix="q")
    >>> [list(node.input) for node in graph.node]
    [['x'], ['q1', 'q0']]
    """
    keep = {value.name for value in graph.input}
    keep |= {value.name for value in graph.output}
    renamed = {}

    def short(name):
        """The new name of ``name`` (given on first sight)."""
        if not name or name in keep or len(name) <= min_length:
            return name
        if name not in renamed:
            renamed[name] = f"{prefix}{len(renamed)}"
        return renamed[name]

    readable = {}
    for initializer in graph.initializer:
        if scopes is None:
            initializer.name = short(initializer.name)
            continue
        name = initializer.name
        for scope in scopes:
            name = name.removeprefix(scope)
        if name in readable.values() or name in keep:
            name = f"w{len(readable)}"
        readable[initializer.name] = name
        initializer.name = name
    for index, node in enumerate(graph.node):
        node.name = f"n{index}"
        node.input[:] = [readable.get(n) or short(n) for n in node.input]
        node.output[:] = [short(name) for name in node.output]
