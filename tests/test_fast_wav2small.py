"""The exported (fast) form of Wav2Small computes the trained model's function.

FastWav2Small pads channels, swaps the map axes and folds BatchNorm; the
export joins its unmasked and masked graphs with an ``If``. These tests
check each piece against the model as trained, on real speech.
"""

import numpy as np
import onnx
import pytest
import torch
from conftest import pad_batch, randomize_batch_norm

from speechbrain_wav2small.export.graph import lazy_where
from speechbrain_wav2small.export.tracing import export_graph
from speechbrain_wav2small.export.wrappers import BranchingWav2Small
from speechbrain_wav2small.inference.onnx_emotion import load_session
from speechbrain_wav2small.lobes.fast_wav2small import FastWav2Small
from speechbrain_wav2small.students import build_student


def _trained_like(name):
    """A student with non-trivial BatchNorm, so folding mistakes show."""
    return randomize_batch_norm(build_student(name).eval())


@pytest.mark.parametrize("name", ["wav2small", "wav2small_72k"])
def test_fast_form_equals_trained_model(name, speech_clips):
    model = _trained_like(name)
    fast = FastWav2Small(model)
    wavs, lengths = pad_batch(speech_clips)
    with torch.no_grad():
        for clip in speech_clips:
            expected = model(clip[None])
            assert (fast(clip[None]) - expected).abs().max() <= 1e-5
        # Padded batch: the masked path, row by row equal to clips alone.
        assert (fast(wavs, lengths) - model(wavs, lengths)).abs().max() <= 1e-5
        # Short clip (padded to one window by the front end).
        short = speech_clips[0][:40][None]
        assert (fast(short) - model(short)).abs().max() <= 1e-5
    assert fast.padded_channels % 16 == 0
    assert fast.padded_channels >= fast.channels


def test_fast_form_needs_eval_mode():
    with pytest.raises(ValueError, match="eval mode"):
        FastWav2Small(build_student("wav2small").train())


def test_exported_branches_pick_the_right_path(speech_clips):
    """Unpadded batches run the then-branch (no masks), padded batches and
    short clips the masked one; both agree with PyTorch."""
    model = _trained_like("wav2small")
    raw, _ = export_graph(BranchingWav2Small(model).eval())
    joined = lazy_where(raw, BranchingWav2Small.FLAG)
    onnx.checker.check_model(joined, full_check=True)
    (branch,) = [node for node in joined.graph.node if node.op_type == "If"]
    else_ops = {
        node.op_type
        for attribute in branch.attribute
        if attribute.name == "else_branch"
        for node in attribute.g.node
    }
    # The masked path (Where on the attention scores) lives in the branch,
    # and nothing else computes a Where any more.
    assert "Where" in else_ops and "Conv" in else_ops
    assert [n.input[0] for n in joined.graph.node if n.op_type == "If"] == [
        BranchingWav2Small.FLAG
    ]
    session = load_session(joined.SerializeToString())

    def run(wavs, lengths):
        return session.run(
            None, {"wavs": wavs.numpy(), "wav_lens": lengths.numpy()}
        )[0]

    wavs, lengths = pad_batch(speech_clips)
    equal = torch.stack([clip[:16000] for clip in speech_clips])
    cases = [
        (wavs, lengths),
        (equal, torch.ones(len(speech_clips))),
        (speech_clips[1][None], torch.ones(1)),
        (speech_clips[1][None, :50], torch.ones(1)),
    ]
    with torch.no_grad():
        for batch, relative in cases:
            expected = model(batch, relative).numpy()
            assert np.abs(run(batch, relative) - expected).max() <= 1e-4


def test_lazy_where_with_an_operand_of_the_main_graph():
    """When the else operand is also needed elsewhere, nothing moves and
    the branch just passes it on."""
    import numpy as np
    from onnx import helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMin", ["x"], ["smallest"], keepdims=0),
        helper.make_node("Greater", ["smallest", "zero"], ["positive"]),
        helper.make_node("Mul", ["x", "two"], ["double"]),
        helper.make_node("Where", ["positive", "x", "double"], ["picked"]),
        helper.make_node("Add", ["picked", "double"], ["y"]),
    ]
    constants = [
        numpy_helper.from_array(np.float32(value), name)
        for value, name in ((2, "two"), (0, "zero"))
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", 1, [2])],
        [
            helper.make_tensor_value_info("y", 1, [2]),
            helper.make_tensor_value_info("positive", 9, []),
        ],
        constants,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9
    )
    lazy = lazy_where(model, "positive")
    onnx.checker.check_model(lazy, full_check=True)
    session = load_session(lazy.SerializeToString())
    for x in ([1.0, 2.0], [-1.0, 2.0]):
        x = np.float32(x)
        expected = np.where(x.min() > 0, x, 2 * x) + 2 * x
        assert np.allclose(session.run(None, {"x": x})[0], expected)
