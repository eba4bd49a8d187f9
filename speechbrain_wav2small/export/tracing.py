"""From a PyTorch student to a finished, small ONNX model.

:func:`export_graph` traces a wrapper (see
:mod:`~speechbrain_wav2small.export.wrappers`) with the dynamo exporter at
opset 18, dynamic batch and time. The exporter runs with ``optimize=False``
and ``onnxscript``'s optimiser follows with a small constant-folding limit,
so BatchNorm is folded into the convolutions while the DFT basis and the
mel filterbank stay computed from a few integers instead of being stored;
the per-node stack traces and shape annotations the exporter leaves are
stripped and internal names shortened
(:func:`~speechbrain_wav2small.export.graph.strip_debug_info`,
:func:`~speechbrain_wav2small.export.graph.shorten_names`).

:func:`join_branches` joins the two paths of a branching graph and drops
its flag output, and :func:`finish` stores the metadata every exported
file carries (:func:`file_metadata`) and checks the model. Every file
gives ``scores`` first, then the student's ``embeddings`` (see
:class:`~speechbrain_wav2small.export.wrappers.OnnxStudent`).

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib
import json
import logging
import warnings

import onnx
import onnxscript.optimizer
import torch
from onnx import helper

from speechbrain_wav2small import DIMENSIONS, __version__
from speechbrain_wav2small.export.graph import (
    compact,
    lazy_where,
    shorten_names,
    strip_debug_info,
)
from speechbrain_wav2small.export.wrappers import BranchingWav2Small
from speechbrain_wav2small.utils.model_files import INPUT_NAMES, OUTPUT_NAME

OPSET = 18

# onnxscript folds a constant when its result is not much bigger than its
# inputs, so with a large limit the folding cascades from the small index
# tensors up to the full DFT basis (66x64 for Wav2Small) and the mel
# filterbank; 16 elements keeps even the index tensors computed (a stored
# [1, 64] int64 index costs 0.5 KB of a 30 KB file) while BatchNorm folding
# (a rewrite rule, not constant folding) still happens.
CONSTANT_FOLD_LIMIT = 16

#: Leading module scopes dropped from weight names ("student.head.bias").
WRAPPER_SCOPES = ("student.", "fast.")


def export_graph(wrapper):
    """Traces ``wrapper`` to an optimised, stripped float ONNX model.

    Arguments
    ---------
    wrapper : torch.nn.Module
        An :class:`~speechbrain_wav2small.export.wrappers.OnnxStudent` in
        eval mode on the CPU; its ``output_names`` name the outputs.

    Returns
    -------
    onnx.ModelProto
        The float model.
    set of int
        Positions of the front end's nodes in its graph (the names change
        when they are shortened; the order does not).

    Example
    -------
    Tracing takes a few seconds, so this is not run as a doctest::

        model, front_end = export_graph(OnnxStudent(student).eval())
    """
    batch = torch.export.Dim("batch", min=1)
    time = torch.export.Dim("time", min=1)
    # A batch of 2 (not 1) so the exporter keeps the batch size dynamic.
    example = (torch.randn(2, 16000), torch.tensor([1.0, 0.8]))
    output_names = list(wrapper.output_names)
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
    front_end = _front_end_nodes(model.graph)
    strip_debug_info(model)
    shorten_names(model.graph, scopes=WRAPPER_SCOPES)
    return model, front_end


def _front_end_nodes(graph):
    """Positions of the nodes the exporter scoped under ``.front_end``."""
    return {
        index
        for index, node in enumerate(graph.node)
        if any(
            ".front_end" in entry.value
            for entry in node.metadata_props
            if entry.key.endswith("name_scopes")
        )
    }


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
        for each, level in zip(loggers, levels, strict=True):
            each.setLevel(level)


def join_branches(model):
    """``model`` as it is written: a graph of
    :class:`~speechbrain_wav2small.export.wrappers.BranchingWav2Small`
    (scores, embeddings and flag) gets its masked path run only for
    padded batches (:func:`~speechbrain_wav2small.export.graph.lazy_where`)
    and loses the flag output; any other graph is copied. ``model`` is
    left untouched.

    Example
    -------
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Neg", ["x"], ["scores"])], "g",
    ...     [helper.make_tensor_value_info("x", 1, [1])],
    ...     [helper.make_tensor_value_info("scores", 1, [1])])
    >>> model = helper.make_model(graph)
    >>> join_branches(model) is model, join_branches(model) == model
    (False, True)
    """
    if BranchingWav2Small.FLAG not in [v.name for v in model.graph.output]:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # finish edits it; the int8 pass reads model
        return copy
    return lazy_where(model, BranchingWav2Small.FLAG)


def file_metadata(student, parameters, fingerprint, sample_rate, min_samples):
    """Model properties stored in every exported file (strings).

    The outputs are described by the graph itself (``scores``
    [batch, 3], ``embeddings`` [batch, F]): a Wav2Small's int8 file is
    kept under 30 KB, where every sentence of metadata counts.

    Example
    -------
    >>> meta = file_metadata("wav2small", 10806, None, 16000, 64)
    >>> meta["teacher_fingerprint"], meta["output_names"]
    ('unknown', '["arousal", "dominance", "valence"]')
    """
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


def finish(model, metadata):
    """Compacts the graph, stores ``metadata`` (name -> string) and the
    producer, and checks the model (raises if it is not valid ONNX).

    Example
    -------
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Neg", ["x"], ["scores"], name="neg")], "g",
    ...     [helper.make_tensor_value_info("x", 1, [1])],
    ...     [helper.make_tensor_value_info("scores", 1, [1])])
    >>> model = helper.make_model(
    ...     graph, opset_imports=[helper.make_opsetid("", OPSET)])
    >>> finish(model, {"student": "wav2small"})
    >>> model.producer_name, model.metadata_props[0].value
    ('speechbrain-wav2small', 'wav2small')
    """
    compact(model.graph, OPSET)
    del model.metadata_props[:]
    helper.set_model_props(model, metadata)
    model.producer_name = "speechbrain-wav2small"
    model.producer_version = __version__
    onnx.checker.check_model(model, full_check=True)
