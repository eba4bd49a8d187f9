"""``wav2small push``: the checks before an upload, the dry run, the upload.

Every test starts from the package that ``wav2small package`` wrote (the
session's packaged Wav2Small). Nothing reaches the network: the upload
test records what ``HfApi.create_repo`` / ``create_branch`` /
``upload_folder`` are given, and the files that ``upload_folder`` would
send are worked out with huggingface_hub's own pattern filter.
"""

import hashlib
import json
import shutil

import huggingface_hub
import pytest
import yaml
from fitted_students import packaged_wav2small
from huggingface_hub import HfApi
from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

from speechbrain_wav2small.cli import main
from speechbrain_wav2small.packaging.checksums import write_checksums

REPO_ID = "someone/wav2small-test"  # the id the package's card was made for
INT8_FILES = ("model.int8.onnx", "audonnx.int8.onnx", "audonnx.int8.yaml")


@pytest.fixture(scope="module")
def package():
    built = packaged_wav2small()
    assert built["status"] == 0
    return built["package"]


@pytest.fixture
def package_copy(package, tmp_path):
    """A copy of the package that a test may change."""
    return shutil.copytree(package, tmp_path / "package")


def push(capsys, *argv):
    """Runs ``wav2small push ARGV``: (exit status, stdout, stderr)."""
    status = main(["push", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def dry_run(capsys, folder, *options):
    """The plan of ``push --dry-run --json``; the push must succeed."""
    status, out, err = push(
        capsys, folder, REPO_ID, "--dry-run", "--json", *options
    )
    assert status == 0, err
    return json.loads(out)


def files_of(folder):
    """Every file under ``folder``: relative path -> (size, sha256)."""
    return {
        path.relative_to(folder).as_posix(): (
            path.stat().st_size,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in folder.rglob("*")
        if path.is_file()
    }


def test_dry_run_lists_every_file_the_target_and_the_card(package, capsys):
    plan = dry_run(capsys, package)
    files = files_of(package)
    assert "checksums.sha256" in files
    assert [entry["name"] for entry in plan["files"]][-1] == "checksums.sha256"
    assert {
        entry["name"]: (entry["bytes"], entry["sha256"])
        for entry in plan["files"]
    } == files
    assert plan["total_bytes"] == sum(size for size, _ in files.values())
    assert (plan["repo_id"], plan["revision"], plan["private"]) == (
        REPO_ID,
        "main",
        False,
    )
    assert plan["url"].endswith(f"/{REPO_ID}")
    assert plan["dry_run"] is True
    # The card's front matter as the hub reads it: the YAML between the
    # card's first two "---" lines.
    card = (package / "README.md").read_text()
    assert plan["card"] == yaml.safe_load(card.split("---\n")[1])
    assert plan["card"]["license"] == "cc-by-nc-sa-4.0"
    assert plan["card_repo_id"] == REPO_ID
    # Each model file reloaded to the numbers recorded at packaging.
    assert plan["checks"]["recorded_outputs"] is True
    assert set(plan["checks"]["reload"]) == {
        "model.ckpt",
        "model.onnx",
        "model.int8.onnx",
    }
    assert all(gap <= 1e-4 for gap in plan["checks"]["reload"].values())
    assert plan["delete_patterns"] == []

    status, out, err = push(capsys, package, REPO_ID, "--dry-run")
    assert status == 0
    assert "warning" not in err
    lines = out.splitlines()
    for name, (size, sha256) in files.items():
        (line,) = [line for line in lines if line.endswith(f"  {name}")]
        assert line.split() == [sha256, f"{size:,}", "bytes", name]
    assert f"total {plan['total_bytes']:,} bytes in {len(files)} files" in out
    assert f"would upload to {REPO_ID} (" in out
    assert "  license: cc-by-nc-sa-4.0" in out
    assert lines[-1] == "dry run: nothing was uploaded"


def test_card_for_another_repository_is_a_warning(package, capsys):
    status, _, err = push(capsys, package, "other/name", "--dry-run")
    assert status == 0
    assert f"usage snippets load '{REPO_ID}', not 'other/name'" in err


def test_tampered_file_is_refused(package_copy, capsys):
    data = bytearray((package_copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    (package_copy / "model.onnx").write_bytes(bytes(data))
    status, out, err = push(capsys, package_copy, REPO_ID, "--dry-run")
    assert status == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(
        f"error: {package_copy} does not match its checksums.sha256"
    )
    assert "changed: model.onnx (sha256 " in err
    for other in ("model.int8.onnx", "README.md", "missing", "extra"):
        assert other not in err


def test_extra_and_missing_files_are_refused(package_copy, capsys):
    (package_copy / "notes.txt").write_text("mine")
    (package_copy / "model.int8.onnx").unlink()
    status, _, err = push(capsys, package_copy, REPO_ID, "--dry-run")
    assert status == 1
    assert err.count("\n") == 1
    assert "missing: model.int8.onnx" in err
    assert "extra: notes.txt" in err
    # Without a manifest nothing can be checked: refused too.
    (package_copy / "checksums.sha256").unlink()
    status, _, err = push(capsys, package_copy, REPO_ID, "--dry-run")
    assert status == 1
    assert f"error: {package_copy} has no checksums.sha256" in err


def test_package_that_does_not_reload_is_refused(package_copy, capsys):
    """A manifest rewritten after an edit does not make a broken package
    pass: it must still load and give its recorded numbers."""
    hparams = package_copy / "hyperparams.yaml"
    text = hparams.read_text()
    assert text.count("  channels: 13\n") == 1
    hparams.write_text(text.replace("  channels: 13\n", "  channels: 12\n"))
    write_checksums(package_copy)
    status, _, err = push(capsys, package_copy, REPO_ID, "--dry-run")
    assert status == 1
    assert err.count("\n") == 1
    assert f"error: {package_copy / 'model.ckpt'} does not load or run:" in err

    # Loads, but an ONNX file no longer gives the recorded numbers.
    hparams.write_text(text)
    report = json.loads((package_copy / "export.json").read_text())
    recorded = report["reference_outputs"]["models"]["model.onnx"]["speech"]
    recorded[2][1] += 0.01
    (package_copy / "export.json").write_text(json.dumps(report))
    write_checksums(package_copy)
    status, _, err = push(capsys, package_copy, REPO_ID, "--dry-run")
    assert status == 1
    assert "error: model.onnx gives [" in err
    assert "on ASR_spk1_snt3.wav, but [" in err
    assert "was recorded when it was packaged" in err


def test_upload_sends_exactly_the_dry_run_files(
    package_copy, capsys, monkeypatch
):
    # What tools leave in a package_copy of a package: never uploaded, and not
    # extra files either.
    (package_copy / ".git").mkdir()
    (package_copy / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    cache = package_copy / ".cache" / "huggingface"
    cache.mkdir(parents=True)
    (cache / "README.md.metadata").write_text("abc\n")
    planned = dry_run(capsys, package_copy, "--revision", "v1.0", "--private")

    calls = {}

    def record(name, result=None):
        """An HfApi method that records its arguments in ``calls``."""

        def method(self, *args, **kwargs):
            """Records, returns ``result``."""
            calls[name] = (args, kwargs)
            return result

        return method

    monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_sent")
    monkeypatch.setattr(HfApi, "create_repo", record("create_repo"))
    monkeypatch.setattr(HfApi, "create_branch", record("create_branch"))
    commit = huggingface_hub.CommitInfo(
        commit_url=f"https://huggingface.co/{REPO_ID}/commit/abc123",
        commit_message="m",
        commit_description="",
        oid="abc123",
    )
    monkeypatch.setattr(HfApi, "upload_folder", record("upload_folder", commit))
    status, out, err = push(
        capsys,
        package_copy,
        REPO_ID,
        "--revision",
        "v1.0",
        "--private",
        "--commit-message",
        "first release",
    )
    assert status == 0, err
    assert f"commit: https://huggingface.co/{REPO_ID}/commit/abc123" in out
    args, kwargs = calls["create_repo"]
    assert (*args, kwargs.get("repo_id")) in ((REPO_ID, None), (None, REPO_ID))
    assert kwargs["private"] is True and kwargs["exist_ok"] is True
    assert calls["create_branch"][1]["branch"] == "v1.0"
    _, upload = calls["upload_folder"]
    assert upload["repo_id"] == REPO_ID
    assert upload["folder_path"] == str(package_copy)
    assert upload["revision"] == "v1.0"
    assert upload["commit_message"] == "first release"
    assert upload["delete_patterns"] is None
    # upload_folder adds its default ignore patterns to those given.
    sent = filter_repo_objects(
        files_of(package_copy),
        allow_patterns=upload["allow_patterns"],
        ignore_patterns=[
            *(upload.get("ignore_patterns") or []),
            *DEFAULT_IGNORE_PATTERNS,
        ],
    )
    assert sorted(sent) == sorted(entry["name"] for entry in planned["files"])
    assert ".git/HEAD" not in sent


def test_package_files_it_lacks_are_deleted_from_the_repository(
    package_copy, capsys
):
    """A package without its int8 model replaces one that had it: the
    repository must not keep the earlier int8 files beside the new ones."""
    for name in INT8_FILES:
        (package_copy / name).unlink()
    write_checksums(package_copy)
    plan = dry_run(capsys, package_copy)
    assert set(plan["delete_patterns"]) == set(INT8_FILES)
    assert not set(INT8_FILES) & {entry["name"] for entry in plan["files"]}
    assert set(plan["checks"]["reload"]) == {"model.ckpt", "model.onnx"}


def test_without_token_or_network_one_line(
    package, capsys, monkeypatch, tmp_path
):
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(variable, raising=False)
    # No stored login either.
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "token")
    )
    status, out, err = push(capsys, package, REPO_ID)
    assert status == 1 and out == ""
    assert err.startswith("error: no Hugging Face token: log in with")
    assert err.count("\n") == 1

    # A token, but no hub to reach: a port where nothing listens.
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_not_sent")
    monkeypatch.setattr(
        huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9"
    )
    status, out, err = push(capsys, package, REPO_ID)
    assert status == 1 and out == ""
    assert err.startswith(f"error: upload of {package} to {REPO_ID} failed: ")
    assert err.count("\n") == 1


def test_refuses_a_repository_id_that_is_not_one(package, capsys):
    status, _, err = push(capsys, package, "./not/an-id", "--dry-run")
    assert status == 1
    assert "'./not/an-id' is not a hub repository id" in err
