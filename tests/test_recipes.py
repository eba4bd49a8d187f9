"""The MSP-Podcast recipes, run as SpeechBrain's recipe tests run them.

Each row of ``tests/recipes/MSP-Podcast.csv`` is run with ``--debug
--debug_persistently --device cpu`` on a small corpus generated in
MSP-Podcast's layout, and the files it must produce are checked. Then the
two checks that need a real run: a distillation killed with SIGKILL
mid-epoch resumes from its intra-epoch checkpoint, and a 2-process torchrun
(gloo, CPU) distillation runs to the end.
"""

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

REPO = Path(__file__).resolve().parents[1]
# The demo-corpus generator belongs to the recipe, not to the package.
sys.path.insert(0, str(REPO / "recipes" / "MSP-Podcast"))
from demo_corpus import generate_corpus  # noqa: E402

DATA = REPO / "tests" / "data"
RECIPE_ROWS = REPO / "tests" / "recipes" / "MSP-Podcast.csv"
DEBUG_FLAGS = ["--debug", "--debug_persistently", "--device", "cpu"]
TINY_BACKBONE = json.dumps(
    {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "conv_dim": [32, 32],
        "conv_kernel": [400, 3],
        "conv_stride": [160, 2],
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2,
    },
    separators=(",", ":"),
)

pytestmark = pytest.mark.slow


def recipe_rows():
    with open(RECIPE_ROWS, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipes")
    generate_corpus(root / "corpus", DATA, DATA, scale=0.15, seed=7)
    extra = root / "extra_audio"
    extra.mkdir()
    # Extra unlabeled audio: one clip of a test podcast (must be left
    # out) and one clip of a new source (must join the training set).
    test1 = sorted((root / "corpus" / "Audios").glob("MSP-PODCAST_0011_*"))
    os.link(test1[0], extra / test1[0].name)
    os.link(DATA / "ASR_spk2_snt2.wav", extra / "podcast_clip.wav")
    # A clip with NaN samples: the labeller lists it with the reason and
    # distillation goes on without it.
    soundfile.write(
        extra / "broken_clip.wav",
        np.full(8000, np.nan, dtype="float32"),
        16000,
        subtype="FLOAT",
    )
    noise = root / "noise"
    noise.mkdir()
    os.link(DATA / "noise_noise2.wav", noise / "noise2.wav")
    return {
        "corpus": str(root / "corpus"),
        "out": str(root / "out"),
        "extra": str(extra),
        "noise": str(noise),
        "tiny_backbone": TINY_BACKBONE,
    }


def run_recipe(script, hparams, flags, cwd=REPO, timeout=600):
    command = [sys.executable, script, hparams, *flags]
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{shlex.join(command)} failed:\n{done.stdout[-3000:]}\n"
        f"{done.stderr[-5000:]}"
    )
    return done


def checked_files(checks):
    match = re.fullmatch(r"file_exists=\[(.*)\]", checks.strip())
    assert match, f"unsupported check {checks!r}"
    return [name.strip() for name in match.group(1).split(",")]


@pytest.fixture(scope="module")
def recipe_outputs(workspace):
    """Runs every recipe row in order (the teacher first)."""
    for row in recipe_rows():
        flags = row["test_debug_flags"].format(**workspace).split()
        run_recipe(row["Script_file"], row["Hparam_file"], flags + DEBUG_FLAGS)
        for name in checked_files(row["test_debug_checks"]):
            path = Path(workspace["out"]) / name
            assert path.is_file(), f"{row['Task']}: {path} was not written"
    return Path(workspace["out"])


def test_recipe_rows_produce_their_files(recipe_outputs):
    results = json.loads(
        (recipe_outputs / "distill" / "results.json").read_text()
    )
    for reference in ("ccc_vs_teacher", "ccc_vs_human"):
        assert set(results[reference]) >= {
            "ccc",
            "ccc_arousal",
            "ccc_dominance",
            "ccc_valence",
        }
    assert results["student"] == "wav2small"
    assert results["parameters"] == 10_806
    assert results["teacher_fingerprint"].startswith("sha256:")
    export = (
        recipe_outputs / "distill" / "export" / Path(results["checkpoint"]).name
    )
    if "export_error" in results:
        # A debug run trains two batches: its near-constant outputs may fail
        # the int8 gate, which must then leave no model file behind.
        assert "int8 vs float CCC" in results["export_error"]
        assert not list(export.glob("*.onnx"))
    else:
        assert results["onnx_bytes"]["model.int8.onnx"] <= 30_000
        assert (export / "model.onnx").is_file()
    # The challenge CSV: one row per test utterance, ratings on 1..7.
    with open(recipe_outputs / "distill" / "test_predictions.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["FileName", "EmoAct", "EmoVal", "EmoDom"]
    assert all(1 <= float(r[k]) <= 7 for r in rows for k in list(r)[1:])
    # The NaN clip is listed with its reason and left out of training.
    errors = recipe_outputs / "labels" / "extra0_extra_audio.errors.csv"
    assert "broken_clip" in errors.read_text() and "NaN" in errors.read_text()
    # Extra audio: the test-podcast clip was left out, the other kept.
    with open(recipe_outputs / "labels" / "train_set.csv") as stream:
        train_ids = [row["ID"] for row in csv.DictReader(stream)]
    assert "podcast_clip" in train_ids and "broken_clip" not in train_ids
    assert not any(i.startswith("MSP-PODCAST_0011") for i in train_ids)


def test_prepare_reads_the_legacy_layout(tmp_path):
    sys.path.insert(0, str(REPO / "recipes" / "MSP-Podcast"))
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


def used_names(*paths):
    text = "\n".join(Path(p).read_text(encoding="utf-8") for p in paths)
    return text


@pytest.mark.parametrize("row", recipe_rows(), ids=lambda row: row["Task"])
def test_every_yaml_key_is_used(row):
    """Each top-level key is used by the YAML itself, the script, or the
    package Brain the script drives (SpeechBrain's consistency check)."""
    brain_module = {
        "teacher/train.py": "speechbrain_wav2small/training/teacher.py",
        "distill/train.py": "speechbrain_wav2small/training/distillation.py",
    }
    script = row["Script_file"]
    brain = next(m for s, m in brain_module.items() if script.endswith(s))
    hparams_text = Path(REPO / row["Hparam_file"]).read_text()
    code = used_names(REPO / script, REPO / brain)
    run_options = {"ckpt_interval_minutes", "ckpt_interval_steps"}
    keys = [k for k in yaml.safe_load(_strip_tags(hparams_text)) if k]
    unused = [
        key
        for key in keys
        if not key.startswith("__")
        and key not in run_options
        and f"<{key}>" not in hparams_text
        and f'"{key}"' not in code
        and f".{key}" not in code
    ]
    assert not unused, f"{row['Hparam_file']}: unused keys {unused}"


def _strip_tags(text):
    # hyperpyyaml tags (!new:, !ref...) are not plain YAML; only the keys
    # matter here.
    return re.sub(r"!\S+", "", text)


DISTILL_SCRIPT = "recipes/MSP-Podcast/distill/train.py"
DISTILL_HPARAMS = "recipes/MSP-Podcast/distill/hparams/distill.yaml"


def distill_flags(workspace, out, batch_size):
    """One short epoch of distillation on the workspace's corpus, reusing
    the prepared manifests, label caches and teacher of the recipe rows."""
    work = Path(workspace["out"])
    return [
        "--data_folder",
        workspace["corpus"],
        "--output_folder",
        str(out),
        "--prep_folder",
        str(work / "prep"),
        "--label_folder",
        str(work / "labels"),
        "--teacher_source",
        str(work / "teacher" / "teacher"),
        "--batch_size",
        str(batch_size),
        "--number_of_epochs",
        "1",
        "--export_held_out_items",
        "8",
    ]


def test_distillation_resumes_after_sigkill(recipe_outputs, workspace):
    out = Path(workspace["out"]) / "killed"
    flags = distill_flags(workspace, out, batch_size=2) + [
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


def test_distillation_with_torchrun_two_processes(recipe_outputs, workspace):
    out = Path(workspace["out"]) / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        DISTILL_SCRIPT,
        DISTILL_HPARAMS,
        *distill_flags(workspace, out, batch_size=4),
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
