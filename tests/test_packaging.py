"""Hub packaging: folder contents, offline loading, model card, refusals."""

import json

import numpy as np
import pytest
import torch
import yaml
from conftest import DATA
from fitted_students import (
    fitted_student,
    held_out_clips,
    packaged_wav2small,
)

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.cli import main
from speechbrain_wav2small.dataio.audio import read_audio
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.inference.onnx_emotion import OnnxEmotionDimensions
from speechbrain_wav2small.packaging import (
    ccc_rows,
    load_checkpoint,
    package_model,
    resolve_checkpoint,
)
from speechbrain_wav2small.students import build_student

FILES = {
    "hyperparams.yaml",
    "model.ckpt",
    "model.onnx",
    "model.int8.onnx",
    # audEERING's audonnx reads these (see tests/test_audonnx.py).
    "audonnx.onnx",
    "audonnx.yaml",
    "audonnx.int8.onnx",
    "audonnx.int8.yaml",
    "model.yaml",
    "export.json",
    "README.md",
}
#: The files that exist only with an int8 model.
INT8_FILES = {"model.int8.onnx", "audonnx.int8.onnx", "audonnx.int8.yaml"}


@pytest.fixture(scope="module")
def packaged():
    built = packaged_wav2small()
    assert built["status"] == 0
    return built


def test_folder_contents(packaged):
    folder = packaged["package"]
    assert {p.name for p in folder.iterdir()} == FILES
    hparams = (folder / "hyperparams.yaml").read_text()
    for needed in (
        "modules:",
        "pretrainer: !new:",
        "dimensions:",
        "model: !new:",
    ):
        assert needed in hparams
    # Made to be uploaded: no path of this machine inside.
    for name in ("hyperparams.yaml", "export.json", "README.md"):
        assert str(folder.parent) not in (folder / name).read_text()
    # Nothing left behind next to it (staging or backup folders).
    assert [
        p.name for p in folder.parent.iterdir() if p.name.startswith(".")
    ] == []


def test_loads_offline_and_equals_checkpoint(packaged, tmp_path):
    loaded = EmotionDimensions.from_hparams(
        source=str(packaged["package"]), savedir=str(tmp_path)
    )
    # The checkpoint, loaded on its own into a model built from its YAML.
    reference = build_student("wav2small").eval()
    load_checkpoint(reference, packaged["checkpoint"])
    for name in (
        "ASR_spk1_snt1.wav",
        "ASR_spk2_snt1.wav",
        "TTS_LJ050-0131.wav",
    ):
        samples = read_audio(DATA / name)
        with torch.no_grad():
            expected = reference(torch.from_numpy(samples)[None])[0]
        got = loaded.predict_file(DATA / name)
        assert np.allclose([got[d] for d in DIMENSIONS], expected, atol=1e-6)


def test_model_card(packaged):
    card = (packaged["package"] / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["language"] == "en"
    assert "speechbrain" in front["tags"]
    assert front["license"] == "cc-by-nc-sa-4.0"
    assert front["datasets"] == ["msp-podcast"]
    assert front["metrics"] == ["ccc"]
    assert "| test1 / ccc_vs_human | 0.610 | 0.520 | 0.330 | 0.487 |" in card
    assert "| test1 / ccc_vs_teacher | 0.910 | 0.870 | 0.790 | 0.857 |" in card
    assert "int8_ccc" not in card  # not a model-quality row
    export = json.loads((packaged["package"] / "export.json").read_text())
    assert f"{export['bytes']['model.int8.onnx']:,} bytes" in card
    assert "10,806" in card
    assert (
        'EmotionDimensions.from_hparams(\n    source="someone/wav2small-test"'
        in card
    )
    assert "OnnxEmotionDimensions" in card
    assert "sha256:0123456789abcdef" in card and "test teacher" in card
    assert "## Licence" in card


def test_refuses_non_empty_folder(packaged, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        package_model(fitted_student(), "wav2small", out)
    status = main(
        [
            "package",
            "--checkpoint",
            str(packaged["checkpoint"]),
            "--student",
            "wav2small",
            "--out",
            str(out),
        ]
    )
    assert status == 1
    assert "overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_int8_copy_that_fails_its_gate_is_left_out(packaged, tmp_path):
    """The folder is written without model.int8.onnx (replacing one that
    had it); export.json and the card say why, with the figures, and the
    folder loads with both interfaces."""
    out = tmp_path / "package"
    out.mkdir()
    for name in FILES:  # an earlier package, int8 file included
        (out / name).write_text("earlier")
    report = package_model(
        fitted_student(),
        "wav2small",
        out,
        held_out_wavs=held_out_clips(count=12),
        overwrite=True,
        export_options={
            "quantization": "weights",
            "min_ccc": 1.5,
            "parity_seconds": (0.5,),
            "parity_batch_sizes": (3,),
        },
    )
    assert {p.name for p in out.iterdir()} == FILES - INT8_FILES
    assert set(report["files"]) == FILES - INT8_FILES
    export = json.loads((out / "export.json").read_text())
    assert export["files"] == {"model.onnx": "model.onnx"}
    assert export["int8_outcome"] == "refused"
    (refused,) = export["int8_refused"]
    assert refused["mode"] == "weights"
    figures = ", ".join(f"{d} {refused['int8_ccc'][d]:.5f}" for d in DIMENSIONS)
    assert figures in export["no_int8_reason"]
    card = (out / "README.md").read_text()
    assert export["no_int8_reason"] in card
    assert "| `model.onnx` (float32) |" in card
    assert "model.int8.onnx" not in card
    onnx_model = OnnxEmotionDimensions(out)
    assert onnx_model.path == str(out / "model.onnx")
    samples = read_audio(DATA / "ASR_spk1_snt1.wav")
    loaded = EmotionDimensions.from_hparams(
        source=str(out), savedir=str(tmp_path / "savedir")
    )
    assert np.allclose(
        onnx_model.predict_batch(samples[None]),
        loaded.predict_batch(torch.from_numpy(samples)[None]).numpy(),
        atol=1e-4,
    )


def test_cli_package_without_int8(packaged, tmp_path, capsys):
    out = tmp_path / "float only"
    status = main(
        [
            "package",
            "--checkpoint",
            str(packaged["checkpoint"]),
            "--student",
            "wav2small",
            "--out",
            str(out),
            "--quantization",
            "none",
        ]
    )
    assert status == 0
    assert "warning" not in capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == FILES - INT8_FILES
    export = json.loads((out / "export.json").read_text())
    assert export["int8_outcome"] == "not requested"
    assert export["quantization"] == "none"
    assert "quantization 'none'" in (out / "README.md").read_text()


def test_checkpoint_forms(packaged, tmp_path):
    folder = packaged["checkpoint"]
    assert resolve_checkpoint(folder) == folder / "model.ckpt"
    plain = tmp_path / "student.ckpt"
    plain.write_bytes((folder / "model.ckpt").read_bytes())
    model = build_student("wav2small")
    assert load_checkpoint(model, plain) == plain
    expected = packaged["model"].state_dict()
    assert all(
        torch.equal(v, expected[k]) for k, v in model.state_dict().items()
    )
    # The parent of the CKPT+ folders is not a checkpoint: say which are.
    with pytest.raises(FileNotFoundError, match="CKPT\\+"):
        resolve_checkpoint(folder.parent)


def test_checkpoint_of_another_student_is_refused(packaged):
    model = build_student("wav2small_72k")
    with pytest.raises(
        ValueError, match="wrong shape.*blocks_full.0.conv.weight"
    ):
        load_checkpoint(model, packaged["checkpoint"])


def test_ccc_rows_reads_nested_results():
    results = {
        "Test1": {
            "vs_human": {
                "ccc": {"arousal": 0.7, "dominance": 0.6, "valence": 0.5}
            }
        },
        "mean_prediction": {"arousal": 0.5, "dominance": 0.5, "valence": 0.5},
    }
    assert ccc_rows(results) == [("Test1 / vs_human / ccc", [0.7, 0.6, 0.5])]
    # The distillation recipe's results.json (CCCStats summaries).
    recipe = {
        "dimensions": list(DIMENSIONS),
        "ccc_vs_teacher": {
            "ccc": 0.8,
            "ccc_arousal": 0.9,
            "ccc_dominance": 0.8,
            "ccc_valence": 0.7,
        },
        "ccc_vs_human": {},
        "teacher_fingerprint": "sha256:abc",
    }
    assert ccc_rows(recipe) == [("ccc_vs_teacher", [0.9, 0.8, 0.7])]
