"""ONNX export: checked files, gates, sizes, metadata, atomic writing."""

import json
import os

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from fitted_students import (
    fitted_student,
    held_out_clips,
    packaged_wav2small,
    speech_crops,
)

from speechbrain_wav2small import DIMENSIONS, __version__
from speechbrain_wav2small.export import (
    FLOAT_FILE,
    INT8_FILE,
    INT8_NOT_REQUESTED,
    INT8_REFUSED,
    ExportError,
    OnnxStudent,
    export_onnx,
    quantization,
    tracing,
)
from speechbrain_wav2small.utils import durable
from speechbrain_wav2small.utils.model_files import (
    AUDONNX_DEFAULT_YAML,
    AUDONNX_FILES,
    SESSION_CONFIG_KEY,
    WEIGHTS_ONLY_CONFIG,
)

# Size targets of the int8 files (bytes, 1 KB = 1000 bytes).
WAV2SMALL_INT8_LIMIT = 30_000
WAV2SMALL_72K_INT8_LIMIT = 100_000


@pytest.fixture(scope="module")
def packaged():
    built = packaged_wav2small()
    assert built["status"] == 0
    return built


def exported_models(folder):
    """Our ONNX model files in ``folder``, sorted (audonnx's copies and
    YAML files, tested in tests/test_audonnx.py, left out)."""
    audonnx = {AUDONNX_DEFAULT_YAML}
    audonnx.update(name for pair in AUDONNX_FILES.values() for name in pair)
    return sorted(p.name for p in folder.iterdir() if p.name not in audonnx)


def _session(path):
    return onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )


def test_files_pass_checker_and_carry_metadata(packaged):
    for name in (FLOAT_FILE, INT8_FILE):
        path = packaged["package"] / name
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version >= 18
        assert not os.path.exists(str(path) + ".data")  # one file
        meta = _session(path).get_modelmeta().custom_metadata_map
        assert meta["sample_rate"] == "16000"
        assert json.loads(meta["output_names"]) == list(DIMENSIONS)
        assert json.loads(meta["value_range"]) == [0.0, 1.0]
        assert meta["student"] == "wav2small"
        assert meta["parameters"] == "10806"
        assert meta["teacher_fingerprint"] == "sha256:0123456789abcdef"
        assert meta["package_version"] == __version__
        # No stack traces with local paths left in the graph.
        assert b"/work/" not in path.read_bytes()


def test_gates_recorded_and_sizes(packaged):
    report = json.loads((packaged["package"] / "export.json").read_text())
    print("wav2small sizes:", report["bytes"], "parity:", report["parity"])
    # Padded batches up to 10 s, single clips up to 30 s.
    assert set(report["parity"]["by_shape"]) == {
        f"{s}s x{b}" for s in ("0.5", "3", "10", "30") for b in (1, 3)
    } - {"30s x3"}
    assert report["parity"]["max_abs_diff"] <= 1e-4
    assert min(report["int8_ccc"].values()) >= 0.999
    sizes = {
        name: (packaged["package"] / name).stat().st_size
        for name in (FLOAT_FILE, INT8_FILE)
    }
    assert sizes == report["bytes"]
    assert sizes[INT8_FILE] <= WAV2SMALL_INT8_LIMIT
    assert sizes[INT8_FILE] < sizes[FLOAT_FILE] / 1.9


def test_int8_keeps_front_end_float(packaged):
    graph = onnx.load(packaged["package"] / INT8_FILE).graph
    int8 = [
        t.name
        for t in graph.initializer
        if t.data_type == onnx.TensorProto.INT8
    ]
    # 7 convolutions, 2 attention projections and the head; folding may
    # also store zero-padded copies of the fast path's weights.
    assert len(int8) >= 10
    producers = {out: node for node in graph.node for out in node.output}
    head = next(n for n in graph.node if n.op_type == "Gemm")
    assert producers[head.input[1]].op_type == "DequantizeLinear"
    assert producers[head.input[1]].input[0] in int8
    # The DFT convolution's and the mel product's weights are computed.
    initializers = {t.name for t in graph.initializer}
    first_conv = next(n for n in graph.node if n.op_type == "Conv")
    mel = next(n for n in graph.node if n.op_type == "MatMul")
    assert first_conv.input[1] not in initializers
    assert mel.input[1] not in initializers


def test_dynamic_batch_time_and_short_clips(packaged):
    session = _session(packaged["package"] / FLOAT_FILE)
    model = packaged["model"]
    rng = np.random.default_rng(3)
    speech = speech_crops(per_clip=1)[0]
    for batch, total in ((1, 1), (2, 10), (5, 63), (4, 64), (3, 20000)):
        wavs = np.stack(
            [np.roll(speech, 997 * i)[:total] for i in range(batch)]
        ) + rng.normal(0, 1e-3, (batch, total)).astype(np.float32)
        wavs = wavs.astype(np.float32)
        lens = np.ones(batch, dtype=np.float32)
        got = session.run(None, {"wavs": wavs, "wav_lens": lens})[0]
        with torch.no_grad():
            expected = model(torch.from_numpy(wavs), torch.from_numpy(lens))
        assert got.shape == (batch, 3)
        assert np.abs(got - expected.numpy()).max() <= 1e-4


def test_wrapper_pads_like_the_student():
    model = fitted_student("wav2small")
    wrapper = OnnxStudent(model).eval()
    wavs = torch.randn(2, 40)
    lens = torch.tensor([1.0, 0.5])
    with torch.no_grad():
        scores, embeddings = wrapper(wavs, lens)
        assert torch.allclose(scores, model(wavs, lens), atol=1e-6)
        assert torch.allclose(embeddings, model.embed(wavs, lens), atol=1e-6)


def test_wav2small_72k_size_and_gates(tmp_path):
    model = fitted_student("wav2small_72k")
    # The 10 s and 30 s parity shapes need GBs for this width; the
    # default gate runs them, this test keeps to short clips.
    report = export_onnx(
        model,
        tmp_path,
        "wav2small_72k",
        held_out_wavs=held_out_clips(count=16),
        parity_seconds=(0.5, 3.0),
    )
    print("wav2small_72k sizes:", report["bytes"], report["int8_ccc"])
    assert report["parity"]["max_abs_diff"] <= 1e-4
    assert min(report["int8_ccc"].values()) >= 0.999
    assert report["bytes"][INT8_FILE] <= WAV2SMALL_72K_INT8_LIMIT
    assert (tmp_path / INT8_FILE).stat().st_size == report["bytes"][INT8_FILE]
    for name in (FLOAT_FILE, INT8_FILE):
        onnx.checker.check_model(onnx.load(tmp_path / name), full_check=True)


def _quick_export(folder, **kwargs):
    # Short gates: these tests are about what happens around them.
    options = {
        "held_out_wavs": held_out_clips(count=12),
        "parity_seconds": (0.5,),
        "parity_batch_sizes": (3,),
    }
    options.update(kwargs)
    return export_onnx(
        fitted_student("wav2small"), folder, "wav2small", **options
    )


def test_failed_int8_gate_keeps_the_float_model(tmp_path):
    """An int8 copy that fails its gate is left out; the float model is
    written, and an int8 file of an earlier export does not survive."""
    out = tmp_path / "export"
    out.mkdir()
    (out / FLOAT_FILE).write_bytes(b"earlier float")
    (out / INT8_FILE).write_bytes(b"earlier int8, of another model")
    model = fitted_student("wav2small").train()
    report = export_onnx(
        model,
        out,
        "wav2small",
        held_out_wavs=held_out_clips(count=12),
        parity_seconds=(0.5,),
        parity_batch_sizes=(3,),
        min_ccc=1.5,
        overwrite=True,
    )
    assert exported_models(out) == [FLOAT_FILE]
    assert report["files"] == {FLOAT_FILE: str(out / FLOAT_FILE)}
    assert report["bytes"] == {FLOAT_FILE: (out / FLOAT_FILE).stat().st_size}
    assert report["int8_outcome"] == INT8_REFUSED
    assert report["quantization"] == "none" and report["int8_ccc"] is None
    # auto with held-out audio tries static, then weights: both refused,
    # each with its figures.
    assert [entry["mode"] for entry in report["int8_refused"]] == [
        "static",
        "weights",
    ]
    for entry in report["int8_refused"]:
        assert "int8 vs float CCC below 1.5" in entry["reason"]
        assert all(0.9 < entry["int8_ccc"][d] < 1.5 for d in DIMENSIONS)
        assert entry["held_out_items"] == 12
    assert report["no_int8_reason"].startswith(
        "no int8 file, because static int8 was refused: int8 vs float CCC"
    )
    assert "; weights int8 was refused" in report["no_int8_reason"]
    session = _session(out / FLOAT_FILE)
    assert session.get_modelmeta().custom_metadata_map["student"] == (
        "wav2small"
    )
    assert model.training  # exported in eval mode, then put back


def test_quantization_none_writes_the_float_model_only(tmp_path, caplog):
    report = _quick_export(tmp_path, quantization="none")
    assert exported_models(tmp_path) == [FLOAT_FILE]
    assert report["int8_outcome"] == INT8_NOT_REQUESTED
    assert report["quantization"] == "none" and report["int8_refused"] == []
    assert "quantization 'none'" in report["no_int8_reason"]
    assert "WARNING" not in caplog.text  # float only is what was asked


def test_int8_quantiser_failure_keeps_the_float_model(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Inferred shape and existing shape differ")

    monkeypatch.setattr(quantization, "quantize_fast_path", broken)
    report = _quick_export(tmp_path, quantization="static")
    assert exported_models(tmp_path) == [FLOAT_FILE]
    assert report["int8_outcome"] == INT8_REFUSED
    (refused,) = report["int8_refused"]
    assert refused["mode"] == "static"
    assert refused["reason"] == (
        "quantisation failed (RuntimeError: Inferred shape and existing "
        "shape differ)"
    )


def test_each_quantization_mode_is_offered_by_every_command(capsys):
    from speechbrain_wav2small.cli import build_parser

    parser = build_parser()
    for command in ("export", "package", "import-audeering"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        usage = capsys.readouterr().out
        assert "{" + ",".join(quantization.QUANTIZATION_MODES) + "}" in usage
        assert "--int8-min-ccc" in usage
        assert "3 done with a warning" in " ".join(usage.split())


def test_failed_parity_gate_leaves_no_file(tmp_path):
    out = tmp_path / "export"
    with pytest.raises(ExportError, match="differs from PyTorch"):
        _quick_export(out, max_abs_diff=0.0)
    assert not out.exists() or not any(out.iterdir())


def test_interrupted_write_keeps_previous_export(tmp_path, monkeypatch):
    out = tmp_path / "export"
    out.mkdir()
    (out / FLOAT_FILE).write_bytes(b"previous float")
    (out / INT8_FILE).write_bytes(b"previous int8")
    real_replace = os.replace
    moved = []

    def interrupted_replace(source, target):
        # Interrupt once, as the new int8 model is moved into place (the
        # new float model is already there).
        if str(target).endswith(INT8_FILE) and str(source).endswith(".tmp"):
            if not moved:
                moved.append(target)
                raise KeyboardInterrupt
        return real_replace(source, target)

    monkeypatch.setattr(durable.os, "replace", interrupted_replace)
    contents = {out / FLOAT_FILE: b"new float", out / INT8_FILE: b"new int8"}
    with pytest.raises(KeyboardInterrupt):
        durable.atomic_write_files(contents)
    monkeypatch.undo()
    assert moved
    assert (out / FLOAT_FILE).read_bytes() == b"previous float"
    assert (out / INT8_FILE).read_bytes() == b"previous int8"
    assert exported_models(out) == [INT8_FILE, FLOAT_FILE]
    durable.atomic_write_files(contents)
    assert (out / INT8_FILE).read_bytes() == b"new int8"
    assert exported_models(out) == [INT8_FILE, FLOAT_FILE]


def test_interrupted_first_export_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "export"

    def failing_write(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(durable.os, "fsync", failing_write)
    with pytest.raises(KeyboardInterrupt):
        _quick_export(out)
    assert not any(out.iterdir())


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / INT8_FILE).write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_onnx(torch.nn.Linear(1, 1), tmp_path, "wav2small")
    assert (tmp_path / INT8_FILE).read_bytes() == b"keep me"


def test_wav2small_int8_is_static_by_default(packaged):
    report = json.loads((packaged["package"] / "export.json").read_text())
    assert report["quantization"] == "static"
    path = packaged["package"] / INT8_FILE
    graph = onnx.load(path).graph
    quantized = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    assert len(quantized) >= 6  # activations of the 3x3 convolutions
    meta = _session(path).get_modelmeta().custom_metadata_map
    assert "int8 kernels" in meta["quantization"]
    # Static files need onnxruntime's QDQ fusion: no session settings.
    assert SESSION_CONFIG_KEY not in meta


def test_auto_falls_back_to_int8_weights(tmp_path, monkeypatch, caplog):
    """A static model that fails the int8 gate is replaced by the int8
    weights model, with a warning; its file asks for its settings."""

    def shifted(model, *args, **kwargs):
        broken = onnx.ModelProto()
        broken.CopyFrom(model)
        for tensor in broken.graph.initializer:
            if tensor.name == "head.bias":
                values = onnx.numpy_helper.to_array(tensor) + 5.0
                tensor.CopyFrom(
                    onnx.numpy_helper.from_array(values, tensor.name)
                )
        return broken

    monkeypatch.setattr(quantization, "quantize_fast_path", shifted)
    report = _quick_export(tmp_path)
    assert report["quantization"] == "weights"
    assert "static int8 refused" in caplog.text
    meta = _session(tmp_path / INT8_FILE).get_modelmeta().custom_metadata_map
    assert json.loads(meta[SESSION_CONFIG_KEY]) == WEIGHTS_ONLY_CONFIG


def test_dynamic_quantization_mode(tmp_path):
    # onnxruntime's int8 arithmetic: coarser than int8 weights alone, so
    # the gate is relaxed here; the mode must still export and run.
    report = _quick_export(tmp_path, quantization="dynamic", min_ccc=0.99)
    graph = onnx.load(tmp_path / INT8_FILE).graph
    assert any(node.op_type == "ConvInteger" for node in graph.node)
    assert report["quantization"] == "dynamic"
    assert report["bytes"][INT8_FILE] < report["bytes"][FLOAT_FILE]


def test_cli_export(packaged, tmp_path, capsys):
    from speechbrain_wav2small.cli import main

    sidecar = tmp_path / "labels.csv.teacher.json"
    sidecar.write_text(json.dumps({"fingerprint": "sha256:feed", "name": "t"}))
    out = tmp_path / "cli export"
    arguments = [
        "export",
        "--checkpoint",
        str(packaged["checkpoint"]),
        "--student",
        "wav2small",
        "--out",
        str(out),
        "--held-out",
        str(packaged["held_out"]),
        "--teacher-fingerprint",
        str(sidecar),
        "--report",
        str(tmp_path / "report.json"),
    ]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "model.int8.onnx" in printed and "int8 vs float CCC" in printed
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["bytes"][INT8_FILE] == (out / INT8_FILE).stat().st_size
    meta = _session(out / INT8_FILE).get_modelmeta().custom_metadata_map
    assert meta["teacher_fingerprint"] == "sha256:feed"
    assert main(arguments) == 1  # an export is there now
    assert "refusing to overwrite" in capsys.readouterr().err
    # An int8 copy below the gate: the float model is replaced, the old
    # int8 file removed, and the command ends with the warning status.
    strict = [*arguments, "--overwrite", "--int8-min-ccc", "1.5"]
    assert main(strict) == 3
    printed = capsys.readouterr()
    assert "warning: model.onnx written, no int8 file, because" in printed.err
    assert "no int8 file, because" in printed.out
    assert exported_models(out) == [FLOAT_FILE]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["int8_outcome"] == "refused"
    assert report["no_int8_reason"] in printed.err
    wrong = arguments[:]
    wrong[wrong.index("wav2small")] = "wav2small_72k"
    wrong[wrong.index(str(out))] = str(tmp_path / "other")
    assert main(wrong) == 1
    assert "does not match the student" in capsys.readouterr().err


def test_front_end_stays_float_even_when_folded(tmp_path, monkeypatch):
    # With unlimited constant folding the DFT basis and the mel filterbank
    # become stored weights: they must still not be quantised.
    monkeypatch.setattr(tracing, "CONSTANT_FOLD_LIMIT", 10**6)
    _quick_export(tmp_path)
    graph = onnx.load(tmp_path / INT8_FILE).graph
    stored = {tensor.name: tensor for tensor in graph.initializer}
    dft = next(node for node in graph.node if node.op_type == "Conv")
    mel = next(node for node in graph.node if node.op_type == "MatMul")
    assert stored[dft.input[1]].data_type == onnx.TensorProto.FLOAT
    assert stored[mel.input[1]].data_type == onnx.TensorProto.FLOAT
    int8 = [
        t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8
    ]
    # 7 convolutions, 2 attention projections and the head; folding may
    # also store zero-padded copies of the fast path's weights.
    assert len(int8) >= 10
