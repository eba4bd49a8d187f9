"""Hub ids (``owner/name[@revision]``) everywhere a model or teacher is given.

Every test reads a real Hugging Face cache on disk, laid out as
``huggingface_hub`` leaves it (see ``tests/hub_cache.py``), through the real
library with ``HF_HUB_OFFLINE=1``: nothing is mocked. A hub id must give
exactly what the same files in a local folder give.
"""

import contextlib
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA
from fitted_students import fit_student, packaged_wav2small, speech_crops
from hub_cache import HubCache, offline_hub, repo_files
from safetensors.torch import save_file
from test_audeering_import import AuthorsWav2Small

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.cli import main
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.inference.onnx_emotion import OnnxEmotionDimensions
from speechbrain_wav2small.packaging.audeering import load_audeering
from speechbrain_wav2small.packaging.checksums import write_checksums
from speechbrain_wav2small.teachers import load_teacher
from speechbrain_wav2small.utils.hub import (
    is_hub_id,
    resolve_source,
    split_revision,
)

ROOT = Path(__file__).resolve().parents[1]
SPEECH = DATA / "ASR_spk1_snt1.wav"
PACKAGE_ID = "someone/wav2small-test"
ONNX_ID = "someone/wav2small-onnx"
DAWN_ID = "someone/tiny-dawn"
RELEASE_ID = "someone/wav2small-release"
#: In an ONNX-only repository: an export, no PyTorch files.
TORCH_FILES = {"hyperparams.yaml", "model.ckpt"}
INT8_FILES = {"model.int8.onnx", "audonnx.int8.onnx", "audonnx.int8.yaml"}


def _copy_without(folder, destination, names):
    """``folder`` copied to ``destination`` without the files ``names``."""
    shutil.copytree(folder, destination, ignore=lambda *_: list(names))
    return destination


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Local folders, and a hub cache holding the same files.

    ``PACKAGE_ID`` has two commits: tag ``v1.0`` is the package; on
    ``main`` the PyTorch model's head bias is moved by 0.25 and the int8
    files are gone (so the ONNX interface takes the float file there): the
    two revisions give different numbers through both backends.
    """
    built = packaged_wav2small()
    assert built["status"] == 0
    root = tmp_path_factory.mktemp("hub folders")
    package = built["package"]
    changed = _copy_without(package, root / "main", INT8_FILES)
    state = torch.load(
        changed / "model.ckpt", map_location="cpu", weights_only=True
    )
    state["head.bias"] = state["head.bias"] + 0.25
    torch.save(state, changed / "model.ckpt")
    # Published as a package of its own: its manifest lists its files.
    write_checksums(changed)
    onnx_only = _copy_without(package, root / "onnx only", TORCH_FILES)
    release = root / "release"
    release.mkdir()
    torch.manual_seed(3)
    authors = AuthorsWav2Small()
    fit_student(authors, authors.adv, speech_crops(per_clip=4, seed=3))
    save_file(
        {k: v.contiguous() for k, v in authors.state_dict().items()},
        str(release / "model.safetensors"),
    )
    (release / "config.json").write_text('{"model_type": "wav2small"}')
    hub = HubCache(root / "hf home")
    commits = {
        "v1.0": hub.add(PACKAGE_ID, package, refs=("v1.0",)),
        "main": hub.add(PACKAGE_ID, changed, refs=("main",)),
    }
    hub.add(ONNX_ID, onnx_only)
    hub.add(DAWN_ID, ROOT / "tests" / "samples" / "teacher_dawn_tiny")
    hub.add(RELEASE_ID, release)
    return {
        "package": package,
        "main": changed,
        "onnx_only": onnx_only,
        "release": release,
        "home": hub.home,
        "commits": commits,
    }


@pytest.fixture
def hub(folders, monkeypatch):
    """The module's cache, read offline by the already imported library."""
    return offline_hub(folders["home"], monkeypatch)


def _scores(result):
    """The three numbers of a ``predict_file`` result."""
    return [result[name] for name in DIMENSIONS]


def test_hub_id_form_and_revisions():
    assert is_hub_id("owner/name@v1.0") and is_hub_id("owner/name@refs/pr/1")
    # A name ending in .onnx is a file, never a hub id.
    assert not is_hub_id("owner/model.onnx")
    assert not is_hub_id("owner/name@v1.ONNX")
    assert split_revision("owner/name@refs/pr/1") == ("owner/name", "refs/pr/1")
    assert split_revision("owner/name", "v2") == ("owner/name", "v2")
    with pytest.raises(ValueError, match="names revision 'v1'"):
        split_revision("owner/name@v1", revision="v2")
    with pytest.raises(FileNotFoundError, match="never a hub id"):
        OnnxEmotionDimensions("owner/model.onnx")
    with pytest.raises(ValueError, match="revisions are for hub ids"):
        resolve_source(str(DATA), revision="v1.0")


def test_onnx_interface_from_a_hub_id_gives_the_folder_numbers(folders, hub):
    from_hub = OnnxEmotionDimensions(ONNX_ID)
    local = OnnxEmotionDimensions(folders["onnx_only"])
    # The file is the cache's: a snapshot link to its blob.
    path = Path(from_hub.path)
    assert path.is_symlink() and path.parent.parent.name == "snapshots"
    assert path.resolve().parent.name == "blobs"
    assert path.resolve().is_relative_to(hub.storage(ONNX_ID))
    assert from_hub.predict_file(SPEECH) == local.predict_file(SPEECH)


def test_revision_in_the_id_or_as_keyword(folders, hub):
    """``@v1.0``, ``revision="v1.0"`` and the commit hash give the tagged
    model; no revision gives main: both backends, same numbers as the
    folders holding those files."""
    onnx_v1 = OnnxEmotionDimensions(folders["package"]).predict_file(SPEECH)
    onnx_main = OnnxEmotionDimensions(folders["main"]).predict_file(SPEECH)
    assert onnx_v1 != onnx_main  # int8 and float files
    commit = folders["commits"]["v1.0"]
    for source, revision in (
        (f"{PACKAGE_ID}@v1.0", None),
        (PACKAGE_ID, "v1.0"),
        (f"{PACKAGE_ID}@{commit}", None),
    ):
        model = OnnxEmotionDimensions(source, revision=revision)
        assert model.path.endswith("model.int8.onnx")
        assert model.predict_file(SPEECH) == onnx_v1
    main_model = OnnxEmotionDimensions(PACKAGE_ID)
    assert main_model.path.endswith(os.sep + "model.onnx")
    assert main_model.predict_file(SPEECH) == onnx_main

    torch_v1 = EmotionDimensions.from_hparams(source=str(folders["package"]))
    torch_main = EmotionDimensions.from_hparams(source=str(folders["main"]))
    expected_v1 = torch_v1.predict_file(SPEECH)
    expected_main = torch_main.predict_file(SPEECH)
    assert expected_main["valence"] == pytest.approx(
        expected_v1["valence"] + 0.25, abs=1e-5
    )
    assert (
        EmotionDimensions.from_hparams(
            source=f"{PACKAGE_ID}@v1.0"
        ).predict_file(SPEECH)
        == expected_v1
    )
    # One savedir, main first: the revision asked for next still wins.
    savedir = hub.home / "savedir"
    loaded = EmotionDimensions.from_hparams(source=PACKAGE_ID, savedir=savedir)
    assert loaded.predict_file(SPEECH) == expected_main
    loaded = EmotionDimensions.from_hparams(
        source=PACKAGE_ID, revision="v1.0", savedir=savedir
    )
    assert loaded.predict_file(SPEECH) == expected_v1


def _run(arguments, env, script=None):
    """Runs Python in a fresh process (the library reads the environment
    afresh); returns the completed process."""
    command = [sys.executable]
    command += ["-c", script] if script else ["-m", "speechbrain_wav2small.cli"]
    return subprocess.run(
        command + arguments,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )


#: ``wav2small predict`` with torch made unimportable.
NO_TORCH_PREDICT = textwrap.dedent(
    """
    import argparse
    import sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")

    sys.meta_path.insert(0, NoTorch())
    from speechbrain_wav2small.cli import predict

    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    status = predict.run(parser.parse_args(sys.argv[1:]))
    assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
    sys.exit(status)
    """
)


def test_predict_onnx_only_repo_in_a_fresh_process_without_torch(
    folders, hub, tmp_path
):
    """Only HF_HOME names the cache ($HF_HOME/hub); torch is unimportable."""
    env = dict(os.environ)
    env.pop("HF_HUB_CACHE")
    out = tmp_path / "hub.json"
    completed = _run(
        [str(SPEECH), "--model", ONNX_ID, "--out", str(out), "--quiet"],
        env,
        NO_TORCH_PREDICT,
    )
    assert completed.returncode == 0, completed.stderr
    (row,) = json.loads(out.read_text())
    local = OnnxEmotionDimensions(folders["onnx_only"]).predict_file(SPEECH)
    assert _scores(row) == pytest.approx(_scores(local), abs=1e-6)


def test_predict_package_repo_in_a_fresh_process(folders, hub, tmp_path):
    """Only HF_HUB_CACHE names the cache (HF_HOME is elsewhere, empty); the
    PyTorch model comes through SpeechBrain's fetch."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "empty home")}
    out = tmp_path / "hub.csv"
    completed = _run(
        ["predict", str(SPEECH), "--model", PACKAGE_ID, "--out", str(out)],
        env,
    )
    assert completed.returncode == 0, completed.stderr
    # The CLI prints the line that announces each hub fetch.
    assert f"INFO fetching {PACKAGE_ID} from the model hub" in completed.stderr
    with open(out, newline="") as stream:
        (row,) = csv.DictReader(stream)
    local = tmp_path / "local.json"
    status = main(
        ["predict", str(SPEECH), "--model", str(folders["main"])]
        + ["--backend", "torch", "--out", str(local), "--quiet"]
    )
    assert status == 0
    (expected,) = json.loads(local.read_text())
    got = [float(row[name]) for name in DIMENSIONS]
    assert got == pytest.approx(_scores(expected), abs=1e-6)
    assert not (tmp_path / "empty home" / "hub").exists()


def test_predict_with_revision_and_onnx_backend(folders, hub, tmp_path):
    out = tmp_path / "v1.json"
    status = main(
        ["predict", str(SPEECH), "--model", f"{PACKAGE_ID}@v1.0"]
        + ["--backend", "onnx", "--out", str(out), "--quiet"]
    )
    assert status == 0
    (row,) = json.loads(out.read_text())
    local = OnnxEmotionDimensions(folders["package"]).predict_file(SPEECH)
    assert _scores(row) == _scores(local)


def _clips(folder):
    """Two short real clips in ``folder``."""
    folder.mkdir()
    for name in ("ASR_spk1_snt1.wav", "ASR_spk2_snt1.wav"):
        samples, rate = sf.read(DATA / name, dtype="float32")
        sf.write(folder / name, samples[: rate // 2], rate)
    return folder


def _labels(path):
    """``{ID: (arousal, dominance, valence)}`` of a label cache."""
    with open(path, newline="") as stream:
        return {
            row["ID"]: tuple(float(row[name]) for name in DIMENSIONS)
            for row in csv.DictReader(stream)
        }


def test_label_with_a_teacher_from_the_hub(hub, tmp_path):
    clips = _clips(tmp_path / "clips")
    outputs = {}
    for source in (DAWN_ID, str(ROOT / "tests/samples/teacher_dawn_tiny")):
        out = tmp_path / f"{len(outputs)}" / "labels.csv"
        status = main(
            ["label", "--teacher", "dawn", "--teacher_source", source]
            + ["--audio-dir", str(clips), "--out", str(out), "--no_progress"]
        )
        assert status == 0
        outputs[source] = out
    from_hub, local = (_labels(out) for out in outputs.values())
    assert len(from_hub) == 2 and from_hub == local
    sidecar = outputs[DAWN_ID].with_name("labels.csv.teacher.json")
    assert json.loads(sidecar.read_text())["teacher"]["source"] == DAWN_ID


@pytest.mark.slow
def test_import_audeering_from_a_hub_id(folders, hub, tmp_path, capsys):
    from_hub, _, hub_report = load_audeering(RELEASE_ID)
    local, _, local_report = load_audeering(folders["release"])
    assert hub_report["sha256"] == local_report["sha256"]
    for key, value in local.state_dict().items():
        assert torch.equal(from_hub.state_dict()[key], value), key
    out = tmp_path / "imported"
    status = main(
        ["import-audeering", RELEASE_ID, "--out", str(out)]
        + ["--quantization", "none"]
    )
    assert status == 0
    assert f"imported {RELEASE_ID} (" in capsys.readouterr().out
    packaged = torch.load(
        out / "model.ckpt", map_location="cpu", weights_only=True
    )
    for key, value in local.state_dict().items():
        assert torch.equal(packaged[key], value), key
    samples, _ = sf.read(SPEECH, dtype="float32")
    with torch.no_grad():
        expected = local(torch.from_numpy(samples)[None])[0].numpy()
    got = OnnxEmotionDimensions(out).predict_file(SPEECH)
    assert np.abs(np.array(_scores(got)) - expected).max() <= 1e-4


def test_a_hub_id_not_in_the_cache_is_one_clear_error(
    folders, hub, tmp_path, capsys
):
    missing = "someone/not-uploaded"
    why = "HF_HUB_OFFLINE is set and it is not in the cache"
    for load in (
        lambda: OnnxEmotionDimensions(missing),
        lambda: EmotionDimensions.from_hparams(source=missing),
        lambda: load_teacher("dawn", source=missing),
        lambda: load_audeering(missing),
    ):
        with pytest.raises(FileNotFoundError) as error:
            load()
        message = str(error.value)
        assert f"'{missing}'" in message and why in message
        assert str(hub.cache) in message
    # An unknown revision of a cached repository says what is cached.
    for load in (
        lambda: OnnxEmotionDimensions(f"{PACKAGE_ID}@v9"),
        lambda: EmotionDimensions.from_hparams(
            source=PACKAGE_ID, revision="v9"
        ),
    ):
        with pytest.raises(FileNotFoundError) as error:
            load()
        message = str(error.value)
        assert f"'{PACKAGE_ID}' at revision 'v9'" in message
        assert "revision 'v9' is not in the cache" in message
        assert "cached refs: main, v1.0" in message
    # The commands end with that one line and status 1.
    clips = _clips(tmp_path / "clips")
    for arguments in (
        ["predict", str(SPEECH), "--model", missing],
        ["label", "--teacher", "dawn", "--teacher_source", missing]
        + ["--audio-dir", str(clips), "--out", str(tmp_path / "l.csv")],
        ["import-audeering", missing, "--out", str(tmp_path / "imported")],
    ):
        assert main(arguments) == 1
        err = capsys.readouterr().err
        assert missing in err and why in err and "Traceback" not in err
    assert not (tmp_path / "imported").exists()


def test_a_partial_cached_snapshot_is_named(folders, hub):
    """A snapshot fetched with fewer files than now asked for (its listing
    is cached) is refused offline by the library; the error says so."""
    files = repo_files(folders["onnx_only"])
    hub.add("someone/partial", files, downloaded=["README.md"])
    with pytest.raises(FileNotFoundError) as error:
        OnnxEmotionDimensions("someone/partial")
    message = str(error.value)
    assert "'someone/partial'" in message
    assert "cached copy lacks files" in message and "model.onnx" in message


def test_owner_name_beside_a_local_owner_folder_is_refused_unless_hf(
    folders, hub, tmp_path, monkeypatch, capsys
):
    """``owner/name`` where a folder ``owner/`` exists is a mistyped local
    path: refused wherever a source is taken, the hub not asked; the same
    id after ``hf://`` is fetched, by both interfaces and the CLI."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "someone").mkdir()
    for load in (
        lambda: EmotionDimensions.from_hparams(source=PACKAGE_ID),
        lambda: OnnxEmotionDimensions(ONNX_ID),
        lambda: load_teacher("dawn", source=DAWN_ID),
        lambda: load_audeering(RELEASE_ID),
        lambda: resolve_source(f"{PACKAGE_ID}@v1.0"),
    ):
        with pytest.raises(FileNotFoundError) as error:
            load()
        message = str(error.value)
        assert "the local folder someone/ does" in message
        assert "write hf://someone/" in message
    assert main(["predict", str(SPEECH), "--model", PACKAGE_ID]) == 1
    err = capsys.readouterr().err
    assert "mistyped local path" in err and f"hf://{PACKAGE_ID}" in err
    assert "Traceback" not in err

    local = EmotionDimensions.from_hparams(source=str(folders["package"]))
    expected = local.predict_file(SPEECH)
    model = EmotionDimensions.from_hparams(source=f"hf://{PACKAGE_ID}@v1.0")
    assert model.predict_file(SPEECH) == expected
    onnx = OnnxEmotionDimensions(f"hf://{PACKAGE_ID}", revision="v1.0")
    onnx_local = OnnxEmotionDimensions(folders["package"])
    assert onnx.predict_file(SPEECH) == onnx_local.predict_file(SPEECH)
    out = tmp_path / "rows.json"
    status = main(
        ["predict", str(SPEECH), "--model", f"hf://{PACKAGE_ID}@v1.0"]
        + ["--backend", "torch", "--out", str(out), "--quiet"]
    )
    assert status == 0
    (row,) = json.loads(out.read_text())
    assert _scores(row) == pytest.approx(_scores(expected), abs=1e-6)
    with pytest.raises(ValueError, match="hf:// must be followed by a hub"):
        OnnxEmotionDimensions("hf://./models/x")

    # A local folder of that very name: the bare id is that folder, the
    # hf:// id still the hub's (SpeechBrain itself would take the folder).
    shutil.copytree(folders["main"], tmp_path / PACKAGE_ID)
    main_model = EmotionDimensions.from_hparams(source=str(folders["main"]))
    local_main = main_model.predict_file(SPEECH)
    assert local_main != expected
    for source, scores in (
        (PACKAGE_ID, local_main),
        (f"hf://{PACKAGE_ID}@v1.0", expected),
    ):
        model = EmotionDimensions.from_hparams(source=source)
        assert model.predict_file(SPEECH) == scores
    hub_path = OnnxEmotionDimensions(f"hf://{PACKAGE_ID}").path
    assert Path(hub_path).resolve().is_relative_to(hub.storage(PACKAGE_ID))


def test_every_hub_fetch_is_announced_first(folders, hub, caplog):
    """One INFO line per fetch, also when the fetch then fails."""
    caplog.set_level(logging.INFO, logger="speechbrain_wav2small")
    for load, label in (
        (
            lambda: EmotionDimensions.from_hparams(source=PACKAGE_ID),
            PACKAGE_ID,
        ),
        (
            lambda: OnnxEmotionDimensions(ONNX_ID, revision="main"),
            f"{ONNX_ID}@main",
        ),
        (lambda: load_teacher("dawn", source=DAWN_ID), DAWN_ID),
        (lambda: load_audeering(RELEASE_ID), RELEASE_ID),
        (
            lambda: OnnxEmotionDimensions("someone/not-uploaded"),
            "someone/not-uploaded",
        ),
    ):
        caplog.clear()
        with contextlib.suppress(FileNotFoundError):
            load()
        announced = [
            record.getMessage()
            for record in caplog.records
            if "from the model hub" in record.getMessage()
        ]
        assert announced == [f"fetching {label} from the model hub"]
