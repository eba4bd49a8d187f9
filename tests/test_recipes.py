"""The MSP-Podcast recipes, run as SpeechBrain's recipe tests run them.

Every row of ``tests/recipes/MSP-Podcast.csv`` goes through SpeechBrain's
own recipe-test runner (``tests/utils/recipe_tests.py``, copied unchanged:
see ``tests/test_speechbrain_checks.py``), from the repository root, on the
sample data in ``tests/samples``, with ``--debug --debug_persistently
--device=cpu``; the runner checks the files each row must produce. Then
what the files must hold, and the checks that need a real run: a
distillation killed with SIGKILL mid-epoch resumes from its intra-epoch
checkpoint, and a 2-process torchrun (gloo, CPU) distillation runs to the
end.
"""

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.utils.recipe_tests import run_recipe_tests

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SAMPLES = REPO / "tests" / "samples"
TEACHER_ROW, CACHED_ROW, ON_THE_FLY_ROW = (
    f"MSP-Podcast_row_{row:02d}" for row in (2, 3, 4)
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recipe_outputs(tmp_path_factory):
    """Runs every row with SpeechBrain's runner; returns its output folder.

    The runner calls ``python`` from ``PATH`` and takes paths relative to
    the working directory, as in SpeechBrain's CI.
    """
    out = tmp_path_factory.mktemp("recipe_tests")
    patch = pytest.MonkeyPatch()
    patch.chdir(REPO)
    patch.setenv(
        "PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    try:
        passed = run_recipe_tests(output_folder=f"{out}/")
    finally:
        patch.undo()
    if not passed:
        logs = []
        for stderr in sorted(out.glob("*/stderr.txt")):
            logs.append(f"== {stderr}\n{stderr.read_text()[-4000:]}")
        pytest.fail(
            "SpeechBrain's recipe-test runner failed:\n" + "\n".join(logs)
        )
    return out


def test_teacher_row_exports_a_loadable_teacher(recipe_outputs):
    from speechbrain_wav2small.teachers import load_pretrained_teacher

    out = recipe_outputs / TEACHER_ROW
    results = json.loads((out / "results.json").read_text())
    teacher = load_pretrained_teacher(str(out / "teacher"))
    assert teacher.fingerprint == results["teacher_fingerprint"]
    assert set(results["ccc_vs_human_test1"]) >= {"ccc", "loss"}
    # Two debug batches make a weak teacher: accepted, with a warning.
    guard = results["teacher_guard"]
    assert guard["weak"] and guard["accepted"]
    assert results["warning"].startswith("Weak teacher after teacher fine")
    # SpeechBrain's experiment folder: the script and resolved hparams.
    assert (out / "train.py").read_text() == (
        REPO / "recipes/MSP-Podcast/teacher/train.py"
    ).read_text()
    assert "--ssl_source" in (out / "log.txt").read_text() or (
        "ssl_source: tests/samples/teacher_dawn_tiny"
        in (out / "hyperparams.yaml").read_text()
    )


def test_recipe_rows_produce_their_files(recipe_outputs):
    out = recipe_outputs / CACHED_ROW
    results = json.loads((out / "results.json").read_text())
    for reference in ("ccc_vs_teacher", "ccc_vs_human"):
        assert set(results[reference]) >= {
            "ccc",
            "ccc_arousal",
            "ccc_dominance",
            "ccc_valence",
        }
    assert results["student"] == "wav2small"
    assert results["parameters"] == 10_806
    assert results["precision"] == "fp32"
    assert results["teacher_fingerprint"].startswith("sha256:")
    # The guard's verdict on the label caches, and its warning if weak.
    guard = results["teacher_guard"]
    assert set(guard["figures"]) == {"arousal", "dominance", "valence"}
    assert (results.get("warning") is not None) == guard["weak"]
    export = out / "export" / Path(results["checkpoint"]).name
    if "export_error" in results:
        # A debug run trains two batches: its near-constant outputs may fail
        # the int8 gate, which must then leave no model file behind.
        assert "int8 vs float CCC" in results["export_error"]
        assert not list(export.glob("*.onnx"))
    else:
        assert (export / "model.onnx").is_file()
        if "model.int8.onnx" in results["onnx_bytes"]:
            assert results["onnx_bytes"]["model.int8.onnx"] <= 30_000
        else:
            # Two training batches may leave outputs too flat for the int8
            # gate: the float model is kept and the reason recorded.
            assert results["no_int8_reason"].startswith("no int8 file")
            assert not (export / "model.int8.onnx").exists()
    # The challenge CSV: one row per test utterance, ratings on 1..7.
    with open(out / "test_predictions.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["FileName", "EmoAct", "EmoVal", "EmoDom"]
    assert all(1 <= float(r[k]) <= 7 for r in rows for k in list(r)[1:])
    # The NaN clip is listed with its reason and left out of training.
    errors = (out / "labels" / "extra0_extra_audio.errors.csv").read_text()
    assert "broken_clip" in errors and "NaN" in errors
    # Extra audio: the test-podcast clip was left out, the other kept.
    with open(out / "labels" / "train_set.csv") as stream:
        train_ids = [row["ID"] for row in csv.DictReader(stream)]
    assert "podcast_clip" in train_ids and "broken_clip" not in train_ids
    assert not any(i.startswith("MSP-PODCAST_0011") for i in train_ids)


def test_on_the_fly_row_trains_in_bf16(recipe_outputs):
    out = recipe_outputs / ON_THE_FLY_ROW
    results = json.loads((out / "results.json").read_text())
    assert results["precision"] == "bf16"
    assert results["student"] == "wav2small_72k"
    assert (
        "Using training precision: `--precision=bf16`"
        in (out / "log.txt").read_text()
    )
    for value in results["ccc_vs_teacher"].values():
        assert value == value  # finite numbers, not NaN
    # The row asks for no export (the cached row checks it).
    assert "onnx_bytes" not in results and not (out / "export").exists()


def test_prepare_reads_the_legacy_layout(tmp_path):
    sys.path.insert(0, str(REPO / "recipes" / "MSP-Podcast"))
    from demo_corpus import generate_corpus
    from msp_podcast_prepare import prepare_msp_podcast

    corpus = tmp_path / "legacy"
    generate_corpus(corpus, DATA, DATA, scale=0.1, seed=3, variant="legacy")
    assert (corpus / "labels" / "labels_concensus.json").is_file()
    missing = corpus / "Audio" / "MSP-PODCAST_0002_0001.wav"
    missing.unlink()
    (corpus / "Audio" / "MSP-PODCAST_0002_0002.wav").write_bytes(b"not audio")
    manifests = prepare_msp_podcast(corpus, tmp_path / "prep")
    assert set(manifests) == {"Train", "Development", "Test1", "Test2", "Test3"}
    with open(tmp_path / "prep" / "prepare_errors.csv") as stream:
        errors = {
            Path(r["file"]).name: r["reason"] for r in csv.DictReader(stream)
        }
    assert set(errors) == {missing.name, "MSP-PODCAST_0002_0002.wav"}
    assert "does not exist" in errors[missing.name]
    with open(manifests["Development"]) as stream:
        rows = list(csv.DictReader(stream))
    assert rows and all(0 <= float(r["arousal"]) <= 1 for r in rows)
    # A second call finds the manifests and does nothing.
    before = os.path.getmtime(manifests["Train"])
    prepare_msp_podcast(corpus, tmp_path / "prep")
    assert os.path.getmtime(manifests["Train"]) == before


DISTILL_SCRIPT = "recipes/MSP-Podcast/distill/train.py"
DISTILL_HPARAMS = "recipes/MSP-Podcast/distill/hparams/distill.yaml"


def run_recipe(script, hparams, flags, cwd=REPO, timeout=600):
    """Runs a recipe to its end; fails the test with its output if not."""
    command = [sys.executable, script, hparams, *flags]
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{shlex.join(command)} failed:\n{done.stdout[-3000:]}\n"
        f"{done.stderr[-5000:]}"
    )
    return done


def distill_flags(recipe_outputs, out, batch_size):
    """One short epoch of distillation on the sample corpus, reusing the
    prepared manifests and label caches of the cached-labels row."""
    row = recipe_outputs / CACHED_ROW
    return [
        f"--data_folder={SAMPLES / 'MSP-Podcast'}",
        f"--output_folder={out}",
        f"--prep_folder={row / 'prep'}",
        f"--label_folder={row / 'labels'}",
        f"--teacher_source={SAMPLES / 'teacher_dawn_tiny'}",
        f"--batch_size={batch_size}",
        "--number_of_epochs=1",
        # Resuming and DDP are checked here, the export by the cached row.
        "--export_best=False",
        # The untrained sample teacher fails the weak-teacher guard.
        "--accept_weak_teacher=True",
    ]


def test_distillation_resumes_after_sigkill(recipe_outputs, tmp_path):
    out = tmp_path / "killed"
    flags = distill_flags(recipe_outputs, out, batch_size=2) + [
        "--ckpt_interval_steps",
        "2",
        "--ckpt_interval_minutes",
        "0",
        "--device",
        "cpu",
    ]
    process = subprocess.Popen(
        [sys.executable, DISTILL_SCRIPT, DISTILL_HPARAMS, *flags],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    intra_epoch = []
    while time.time() < deadline and process.poll() is None:
        intra_epoch = [
            meta
            for meta in (out / "save").glob("CKPT+*/CKPT.yaml")
            if "end-of-epoch: false" in meta.read_text()
        ]
        if intra_epoch:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be killed"
    assert intra_epoch, "no intra-epoch checkpoint was written"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "results.json").exists()
    # Intra-epoch checkpoints rotate: resume must load the one left on disk.
    left = [
        meta.parent.name
        for meta in (out / "save").glob("CKPT+*/CKPT.yaml")
        if "end-of-epoch: false" in meta.read_text()
    ]
    assert len(left) == 1

    done = run_recipe(DISTILL_SCRIPT, DISTILL_HPARAMS, flags)
    log = done.stdout + done.stderr
    assert f"Loading a checkpoint from {out / 'save' / left[0]}" in log
    results = json.loads((out / "results.json").read_text())
    assert "ccc" in results["ccc_vs_teacher"]


def test_distillation_with_torchrun_two_processes(recipe_outputs, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        DISTILL_SCRIPT,
        DISTILL_HPARAMS,
        *distill_flags(recipe_outputs, out, batch_size=4),
        "--distributed_backend",
        "gloo",
        "--device",
        "cpu",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, done.stderr[-5000:]
    results = json.loads((out / "results.json").read_text())
    assert results["student"] == "wav2small"
    assert "ccc" in results["ccc_vs_human"]


def test_noise_manifest_feeds_speechbrain_add_noise(distill_recipe, tmp_path):
    """The recipe's noise CSV is in the format AddNoise reads, and noise
    gets added (SpeechBrain's legacy CSV loader refuses a plain one)."""
    import torch
    from speechbrain.augment.time_domain import AddNoise

    noise_csv = tmp_path / "noise.csv"
    distill_recipe.write_noise_manifest(SAMPLES / "noise", noise_csv)
    add_noise = AddNoise(
        csv_file=str(noise_csv),
        snr_low=0,
        snr_high=0,
        noise_sample_rate=16000,
        clean_sample_rate=16000,
    )
    clean = torch.zeros(2, 16000)
    clean[:, ::100] = 1.0
    noisy = add_noise(clean, torch.ones(2))
    assert noisy.shape == clean.shape
    assert (noisy - clean).abs().mean() > 1e-3


def test_distillation_validates_and_exports_the_weight_average(
    recipe_outputs, tmp_path
):
    """With ``ema_decay``, the checkpoint's ``model`` (what export and the
    packager read) is the moving average, not the trained weights, the
    export computes exactly it, and a rerun resumes both."""
    import numpy as np
    import onnxruntime
    import torch

    from speechbrain_wav2small.dataio.audio import read_audio
    from speechbrain_wav2small.packaging.checkpoint import load_checkpoint
    from speechbrain_wav2small.students import build_student
    from speechbrain_wav2small.utils.model_files import (
        LENGTHS_INPUT,
        OUTPUT_NAME,
        WAVS_INPUT,
    )

    out = tmp_path / "ema"
    flags = [
        flag
        for flag in distill_flags(recipe_outputs, out, batch_size=2)
        if not flag.startswith(("--export_best", "--number_of_epochs"))
    ] + ["--ema_decay=0.9", "--export_held_out_items=8", "--device=cpu"]
    run_recipe(
        DISTILL_SCRIPT, DISTILL_HPARAMS, flags + ["--number_of_epochs=1"]
    )
    (checkpoint,) = (out / "save").glob("CKPT+*")
    averaged = torch.load(checkpoint / "model.ckpt", weights_only=True)
    trained = torch.load(checkpoint / "training_model.ckpt", weights_only=True)
    assert averaged.keys() == trained.keys()
    assert any(not torch.equal(averaged[k], trained[k]) for k in averaged)

    wav = next((SAMPLES / "MSP-Podcast" / "Audios").glob("*.wav"))
    audio = torch.from_numpy(read_audio(wav)).float()[None]
    outputs = {}
    for name in ("model", "training_model"):
        student = build_student("wav2small").eval()
        load_checkpoint(student, checkpoint / f"{name}.ckpt")
        with torch.no_grad():
            outputs[name] = student(audio, torch.ones(1)).numpy()
    session = onnxruntime.InferenceSession(
        str(out / "export" / checkpoint.name / "model.onnx")
    )
    (exported,) = session.run(
        [OUTPUT_NAME],
        {WAVS_INPUT: audio.numpy(), LENGTHS_INPUT: np.ones(1, np.float32)},
    )
    np.testing.assert_allclose(exported, outputs["model"], atol=1e-4)
    assert np.abs(exported - outputs["training_model"]).max() > 1e-4

    done = run_recipe(
        DISTILL_SCRIPT,
        DISTILL_HPARAMS,
        flags + ["--number_of_epochs=2", "--export_best=False"],
    )
    assert (
        f"Loading a checkpoint from {checkpoint}" in done.stdout + done.stderr
    )
    history = (out / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in history] == [1, 2]
