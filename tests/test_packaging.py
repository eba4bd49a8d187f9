"""Hub packaging: folder contents, offline loading, model card, refusals."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

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
from speechbrain.utils.fetching import LocalStrategy

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
from speechbrain_wav2small.packaging.checksums import (
    ChecksumError,
    verify_checksums,
)
from speechbrain_wav2small.packaging.reference_outputs import (
    constant_inputs,
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
    # Size and SHA-256 of every other file, written last.
    "checksums.sha256",
}
ROOT = Path(__file__).resolve().parents[1]
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


def test_checksums_list_every_file(packaged, tmp_path):
    folder = packaged["package"]
    lines = (folder / "checksums.sha256").read_text().splitlines()
    # sha256sum's own format ("sha256sum -c" reads it; it skips comments).
    listed = dict(
        reversed(line.split("  ", 1)) for line in lines if line[:1] != "#"
    )
    assert set(listed) == FILES - {"checksums.sha256"}
    for name, digest in listed.items():
        assert (
            digest == hashlib.sha256((folder / name).read_bytes()).hexdigest()
        )
        assert f"# size {(folder / name).stat().st_size} {name}" in lines
    assert set(verify_checksums(folder)) == set(listed)
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in FILES - {"model.yaml"}:
        (copy / name).write_bytes((folder / name).read_bytes())
    (copy / "hyperparams.yaml").write_text("changed")
    with pytest.raises(ChecksumError) as caught:
        verify_checksums(copy)
    assert caught.value.missing == ["model.yaml"]
    assert caught.value.changed == ["hyperparams.yaml"]
    assert "missing: model.yaml; changed: hyperparams.yaml" in str(caught.value)


def test_local_strategy_copy_gives_real_files(packaged, tmp_path):
    """Windows without symbolic links: SpeechBrain's COPY strategy."""
    source = str(packaged["package"])
    copied = EmotionDimensions.from_hparams(
        source=source,
        savedir=str(tmp_path / "copy"),
        local_strategy=LocalStrategy.COPY,
    )
    linked = EmotionDimensions.from_hparams(
        source=source, savedir=str(tmp_path / "default")
    )
    saved = list((tmp_path / "copy").rglob("*"))
    assert {p.name for p in saved} >= {"hyperparams.yaml", "model.ckpt"}
    assert not any(p.is_symlink() for p in saved)
    for name in ("hyperparams.yaml", "model.ckpt"):
        assert (tmp_path / "copy" / name).read_bytes() == (
            packaged["package"] / name
        ).read_bytes()
    for name in ("ASR_spk1_snt1.wav", "TTS_LJ050-0131.wav"):
        assert copied.predict_file(DATA / name) == linked.predict_file(
            DATA / name
        )


def test_card_says_what_the_numbers_mean(packaged, tmp_path):
    """Order, scale, the rater scale, and what inputs without speech give,
    as measured on the packaged model files themselves."""
    folder = packaged["package"]
    card = (folder / "README.md").read_text()
    section = card.split("## What the numbers mean")[1].split("\n## ")[0]
    assert "in this order: arousal, dominance, valence" in section
    assert "**not clipped**" in section
    assert "(y - 1) / 6" in section and "1 + 6x" in section
    assert "not a neutral point" in section
    recorded = json.loads((folder / "export.json").read_text())[
        "reference_outputs"
    ]
    models = recorded["models"]
    assert list(models) == ["model.ckpt", "model.onnx", "model.int8.onnx"]
    assert (
        "| input (3 s) | `model.ckpt` (PyTorch) | `model.onnx` | "
        "`model.int8.onnx` |" in section
    )
    inputs = constant_inputs()
    assert list(models["model.ckpt"]["constant_inputs"]) == list(inputs)
    for name in inputs:
        cells = [
            ", ".join(f"{v:.3f}" for v in models[m]["constant_inputs"][name])
            for m in models
        ]
        assert f"| {name} | " + " | ".join(cells) + " |" in section
    # The figures are the packaged model's own: measured again here.
    loaded = EmotionDimensions.from_hparams(
        source=str(folder), savedir=str(tmp_path)
    )
    again = loaded.predict_batch(np.stack(list(inputs.values())))
    assert np.allclose(
        again.numpy(),
        [models["model.ckpt"]["constant_inputs"][n] for n in inputs],
        atol=1e-5,
    )
    speech = recorded["speech_files"]
    assert len(speech) == len(models["model.onnx"]["speech"]) == 6


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


@pytest.mark.slow
def test_overwrite_after_a_killed_run_keeps_the_users_files(packaged, tmp_path):
    """A real ``wav2small package`` killed (SIGKILL) half-way leaves its
    staging folder; the next run with --overwrite removes it, replaces the
    package's files (a stale int8 file included: this package has none)
    and keeps the folder's other files."""
    out = shutil.copytree(packaged["package"], tmp_path / "package")
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    (out / "mine" / "data.csv").write_text("1,2\n")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    arguments = [
        "package",
        "--checkpoint",
        str(packaged["checkpoint"]),
        "--student",
        "wav2small",
        "--out",
        str(out),
        "--quantization",
        "none",
        "--overwrite",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "speechbrain_wav2small.cli", *arguments],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    staging = []
    while not staging:
        staging = [
            path
            for path in tmp_path.glob(".package.staging-*")
            if (path / "model.ckpt").is_file()
        ]
        assert process.poll() is None, "it ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert staging[0].is_dir()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    assert main(arguments) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["package"]
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "mine" / "data.csv").read_text() == "1,2\n"
    names = {p.name for p in out.iterdir()}
    assert names == FILES - INT8_FILES | {"notes.txt", "mine"}
    with pytest.raises(ChecksumError) as caught:
        verify_checksums(out)
    assert caught.value.extra == ["mine/data.csv", "notes.txt"]
    assert not caught.value.missing and not caught.value.changed
    export = json.loads((out / "export.json").read_text())
    assert export["quantization"] == "none"
    EmotionDimensions.from_hparams(source=str(out))
