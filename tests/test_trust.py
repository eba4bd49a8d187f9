"""Nothing loaded that the user did not trust, nothing silently wrong at load.

Every test starts from the package that ``wav2small package`` wrote (the
session's packaged Wav2Small) and changes it as a mistake or an attacker
would: a checkpoint that does not fit, a pickle that runs code, an edited
``hyperparams.yaml``, a stale ``savedir``. Hub snapshots are real
``huggingface_hub`` caches on disk (``tests/hub_cache.py``), read offline.
A payload that would run creates a marker file; no test passes if it does.
"""

import ast
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch
from conftest import DATA
from fitted_students import packaged_wav2small
from hub_cache import offline_hub, repo_files

from speechbrain_wav2small.cli import main
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.packaging.checkpoint import load_checkpoint
from speechbrain_wav2small.packaging.checksums import (
    ChecksumError,
    write_checksums,
)
from speechbrain_wav2small.students import build_student

ROOT = Path(__file__).resolve().parents[1]
SPEECH = DATA / "ASR_spk1_snt1.wav"
#: What every package-loading warning and refusal says about the YAML.
IS_CODE = "hyperparams.yaml is code"


@pytest.fixture(scope="module")
def package():
    built = packaged_wav2small()
    assert built["status"] == 0
    return built["package"]


@pytest.fixture
def package_copy(package, tmp_path):
    """A copy of the package that a test may change."""
    return shutil.copytree(package, tmp_path / "package")


class MarkerPayload:
    """Pickles as a call that creates ``marker`` (a folder) when unpickled
    by a loader that runs code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        """The call pickle stores instead of the object."""
        return os.mkdir, (self.marker,)


def _predict(capsys, folder, tmp_path):
    """``wav2small predict --backend torch --quiet`` on ``folder``:
    (status, stderr, whether the output file was written)."""
    out = tmp_path / "rows.csv"
    status = main(
        ["predict", str(SPEECH), "--model", str(folder), "--backend"]
        + ["torch", "--quiet", "--out", str(out)]
    )
    return status, capsys.readouterr().err, out.exists()


def test_checkpoint_that_does_not_fit_is_refused(
    package_copy, capsys, tmp_path
):
    """An empty state dict, and another student's, with a manifest that
    matches (as their packager wrote them): SpeechBrain's transfer would
    leave random weights with warnings only, even under --quiet."""
    checkpoint = package_copy / "model.ckpt"
    other = build_student("wav2small_72k").state_dict()
    for state, expected in (
        ({}, "missing weights: attention.score.bias"),
        (other, "weights of the wrong shape (given vs expected): "),
    ):
        torch.save(state, checkpoint)
        write_checksums(package_copy)
        with pytest.raises(ValueError) as error:
            EmotionDimensions.from_hparams(source=str(package_copy))
        message = str(error.value)
        assert message.startswith(f"{checkpoint} does not fit ")
        assert expected in message and "random weights" in message
        status, err, written = _predict(capsys, package_copy, tmp_path)
        assert status == 1 and not written
        assert f"{checkpoint} does not fit " in err
        assert "WARNING" not in err and "Traceback" not in err


def test_pretrainer_that_leaves_the_model_unloaded_is_refused(package_copy):
    hparams = package_copy / "hyperparams.yaml"
    text = hparams.read_text()
    loadables = "    loadables:\n        model: !ref <model>\n"
    assert text.count(loadables) == 1
    hparams.write_text(text.replace(loadables, "    loadables: {}\n"))
    write_checksums(package_copy)
    with pytest.raises(ValueError) as error:
        EmotionDimensions.from_hparams(source=str(package_copy))
    message = str(error.value)
    assert message.startswith(f"{hparams}: its pretrainer loads no ")
    assert "keep random values: attention.score.bias" in message


def test_pickled_code_in_a_checkpoint_is_refused_unrun(
    package_copy, tmp_path, monkeypatch, capsys
):
    """Even with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD set (as users do to read
    old checkpoints), which makes a plain ``torch.load`` run pickles."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "payload ran"
    checkpoint = package_copy / "model.ckpt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["head.bias"] = MarkerPayload(marker)
    torch.save(state, checkpoint)
    write_checksums(package_copy)
    refusal = ": refused unread: besides tensors it pickles the Python object"
    savedir = tmp_path / "savedir"
    for load, read in (
        (
            lambda: EmotionDimensions.from_hparams(source=str(package_copy)),
            checkpoint,
        ),
        (
            lambda: EmotionDimensions.from_hparams(
                source=str(package_copy), savedir=savedir
            ),
            savedir / "model.ckpt",
        ),
        (
            lambda: load_checkpoint(build_student("wav2small"), checkpoint),
            checkpoint,
        ),
    ):
        with pytest.raises(ValueError) as error:
            load()
        assert str(error.value).startswith(f"{read}{refusal}")
        assert not marker.exists()
    status, err, _ = _predict(capsys, package_copy, tmp_path)
    assert status == 1 and f"{checkpoint}{refusal}" in err
    assert not marker.exists()
    # The payload is live: a loader that runs pickles runs it.
    torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert marker.is_dir()


def _warnings(caplog):
    """The records of warnings (and worse) that ``caplog`` holds."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def _trap(marker):
    """A line of YAML that creates ``marker`` when the YAML is loaded."""
    return f"\ntrap: !apply:os.mkdir [{str(marker)!r}]\n"


def test_edited_hyperparams_are_refused_before_they_run(
    package_copy, tmp_path, capsys, caplog
):
    marker = tmp_path / "yaml ran"
    hparams = package_copy / "hyperparams.yaml"
    hparams.write_text(hparams.read_text() + _trap(marker))
    for kwargs in ({}, {"savedir": tmp_path / "savedir"}):
        with pytest.raises(ChecksumError) as error:
            EmotionDimensions.from_hparams(source=str(package_copy), **kwargs)
        message = str(error.value)
        assert message.startswith(
            f"{package_copy} does not match its checksums.sha256: "
            "changed: hyperparams.yaml ("
        )
        assert "nothing was loaded (hyperparams.yaml is code)" in message
        assert not marker.exists()
    status, err, _ = _predict(capsys, package_copy, tmp_path)
    assert status == 1 and "changed: hyperparams.yaml" in err
    assert not marker.exists()
    # Without a manifest nothing can be checked: it loads (and runs the
    # YAML, as SpeechBrain does), with one warning saying so.
    (package_copy / "checksums.sha256").unlink()
    caplog.set_level(logging.WARNING)
    EmotionDimensions.from_hparams(source=str(package_copy))
    assert marker.is_dir()
    (warning,) = _warnings(caplog)
    assert warning.getMessage().startswith(
        f"{package_copy} has no checksums.sha256, so its files were not "
        f"checked; {IS_CODE}"
    )


def test_changed_package_file_and_user_files(package_copy):
    """Files the manifest lists must be unchanged, even those PyTorch does
    not read; files of one's own beside them are no concern."""
    (package_copy / "notes.txt").write_text("mine")
    EmotionDimensions.from_hparams(source=str(package_copy))
    with open(package_copy / "model.onnx", "ab") as stream:
        stream.write(b"\0")
    with pytest.raises(ChecksumError, match="changed: model.onnx \\("):
        EmotionDimensions.from_hparams(source=str(package_copy))


def test_a_savedir_filled_by_another_package_is_refused(package, tmp_path):
    """SpeechBrain serves a savedir's files as they are: the files of the
    package that filled it would be loaded for another one."""
    other = shutil.copytree(package, tmp_path / "other")
    state = torch.load(
        other / "model.ckpt", map_location="cpu", weights_only=True
    )
    state["head.bias"] += 0.25
    torch.save(state, other / "model.ckpt")
    write_checksums(other)
    savedir = tmp_path / "savedir"
    EmotionDimensions.from_hparams(source=str(package), savedir=savedir)
    with pytest.raises(ChecksumError) as error:
        EmotionDimensions.from_hparams(source=str(other), savedir=savedir)
    message = str(error.value)
    assert message.startswith(
        f"{other} does not match its checksums.sha256: changed: model.ckpt"
    )
    assert f"savedir {savedir} keeps the files that first filled it" in message
    # Emptied, it serves the package asked for.
    shutil.rmtree(savedir)
    loaded = EmotionDimensions.from_hparams(source=str(other), savedir=savedir)
    bias = loaded.mods.model.head.bias
    assert torch.allclose(bias, state["head.bias"])


def test_hub_snapshots_are_checked_before_their_yaml_runs(
    package, tmp_path, monkeypatch, caplog
):
    hub = offline_hub(tmp_path / "hf home", monkeypatch)
    marker = tmp_path / "yaml ran"
    files = repo_files(package)
    edited = dict(files)
    edited["hyperparams.yaml"] += _trap(marker).encode()
    hub.add("someone/edited", edited)
    weights = dict(files)
    weights["model.ckpt"] = (package / "model.ckpt").read_bytes()[::-1]
    hub.add("someone/other-weights", weights)
    bare = {k: v for k, v in files.items() if k != "checksums.sha256"}
    hub.add("someone/no-manifest", bare)
    for repo_id, changed in (
        ("someone/edited", "hyperparams.yaml"),
        ("someone/other-weights", "model.ckpt"),
    ):
        for kwargs in ({}, {"savedir": tmp_path / repo_id}):
            with pytest.raises(ChecksumError) as error:
                EmotionDimensions.from_hparams(source=repo_id, **kwargs)
            assert str(error.value).startswith(
                f"{repo_id} does not match its checksums.sha256: changed: "
                f"{changed} ("
            )
            assert not marker.exists()
    caplog.set_level(logging.WARNING)
    model = EmotionDimensions.from_hparams(source="someone/no-manifest")
    local = EmotionDimensions.from_hparams(source=str(package))
    assert model.predict_file(SPEECH) == local.predict_file(SPEECH)
    (warning,) = _warnings(caplog)
    assert warning.getMessage().startswith(
        "someone/no-manifest has no checksums.sha256"
    )
    assert IS_CODE in warning.getMessage()


#: Where checkpoints are read: the package, recipes, tools and benchmarks
#: (the tests are held to ``weights_only=True`` too).
SOURCE_FOLDERS = ("speechbrain_wav2small", "recipes", "tools", "benchmarks")
#: SpeechBrain loaders that call ``torch.load`` without ``weights_only``.
UNSAFE_LOADERS = {
    "torch_patched_state_dict_load",
    "torch_recovery",
    "torch_parameter_transfer",
    "load_collected",
}


def _python_files():
    """Every Python file of :data:`SOURCE_FOLDERS` and ``tests``."""
    for folder in (*SOURCE_FOLDERS, "tests"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def _weights_only(call):
    """The ``weights_only`` a ``torch.load`` call passes: True, False, or
    None when it passes none (or an expression)."""
    for keyword in call.keywords:
        if keyword.arg == "weights_only" and isinstance(
            keyword.value, ast.Constant
        ):
            return keyword.value.value
    return None


def test_every_torch_load_passes_weights_only_true():
    unsafe, loaders = [], []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            name = getattr(node, "attr", getattr(node, "id", None))
            if name in UNSAFE_LOADERS and where.parts[0] in SOURCE_FOLDERS:
                loaders.append(f"{where}:{node.lineno} {name}")
            if not isinstance(node, ast.Call):
                continue
            if ast.unparse(node.func) != "torch.load":
                continue
            weights_only = _weights_only(node)
            # This file proves its payload live with weights_only=False.
            if weights_only is False and path == Path(__file__):
                continue
            if weights_only is not True:
                unsafe.append(f"{where}:{node.lineno}")
    assert unsafe == []
    assert loaders == []
