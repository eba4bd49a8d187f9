"""Pseudo-labelling: errors, resume after SIGKILL, torchrun, stale caches."""

import csv
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
import soundfile as sf
import torch
from conftest import DATA, SPEECH_16K

from speechbrain_wav2small.cli import main as cli_main
from speechbrain_wav2small.dataio.audio import read_audio, resample
from speechbrain_wav2small.labelling import (
    PseudoLabeller,
    StaleCacheError,
    cache_paths,
    duration_batches,
    folder_items,
    manifest_items,
    read_label_cache,
)
from speechbrain_wav2small.teachers import (
    build_teacher,
    load_teacher,
    save_teacher,
    teacher_fingerprint,
)

REPO = Path(__file__).resolve().parents[1]
DIMENSIONS = ("arousal", "dominance", "valence")


@pytest.fixture(scope="module")
def teacher_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher")
    return save_teacher(build_teacher("wavlm_odyssey", seed=7), folder)


@pytest.fixture(scope="module")
def teacher(teacher_folder):
    return load_teacher("wavlm_odyssey", source=teacher_folder)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Nine good clips: 16 kHz, 22.05 kHz, stereo 44.1 kHz FLAC, 14 s."""
    folder = tmp_path_factory.mktemp("corpus")
    for name in SPEECH_16K + ("TTS_LJ050-0131.wav",):
        shutil.copy(DATA / name, folder / name)
    speech = read_audio(DATA / "ASR_spk2_snt1.wav")
    stereo = resample(speech, 16000, 44100)
    sf.write(
        folder / "stereo_44k.flac",
        np.stack([stereo, 0.5 * stereo], axis=1),
        44100,
    )
    noise = read_audio(DATA / "noise_noise1.wav")
    # Longer than the 12 s window: labelled in two windows.
    sf.write(folder / "long_noise.wav", noise[: 14 * 16000], 16000)
    sub = folder / "sub"
    sub.mkdir()
    for index, start in enumerate((0, 3, 6)):
        piece = noise[start * 16000 : (start + 2) * 16000] * (index + 1)
        sf.write(sub / f"noise{index}.wav", piece, 16000, subtype="PCM_24")
    return folder


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _labels(path):
    return {
        row["ID"]: np.array([float(row[d]) for d in DIMENSIONS])
        for row in _read_csv(path)
    }


def _assert_same_cache(got_path, expected_path, atol=1e-5):
    got, expected = _read_csv(got_path), _read_csv(expected_path)
    assert [r["ID"] for r in got] == [r["ID"] for r in expected]
    assert [r["wav"] for r in got] == [r["wav"] for r in expected]
    assert [r["duration"] for r in got] == [r["duration"] for r in expected]
    for a, b in zip(got, expected, strict=True):
        for d in DIMENSIONS:
            assert float(a[d]) == pytest.approx(float(b[d]), abs=atol)


def _run_cli(args, torchrun=False):
    launcher = [sys.executable]
    if torchrun:
        launcher += [
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
        ]
    command = launcher + ["-m", "speechbrain_wav2small.cli", "label", *args]
    return subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_folder_with_corrupt_and_empty_files_completes(
    corpus, teacher, tmp_path
):
    audio = tmp_path / "audio"
    shutil.copytree(corpus, audio)
    (audio / "empty.wav").write_bytes(b"")
    (audio / "corrupt.wav").write_bytes(b"RIFF\x00\x01not really a wave" * 20)
    out = tmp_path / "labels.csv"
    labeller = PseudoLabeller(teacher, batch_seconds=20, progress=False)
    summary = labeller.label_folder(audio, out)
    errors = _read_csv(cache_paths(out)["errors"])
    assert sorted(row["ID"] for row in errors) == ["corrupt", "empty"]
    reasons = {row["ID"]: row["reason"] for row in errors}
    assert "empty" in reasons["empty"]
    assert "not a readable audio file" in reasons["corrupt"]
    assert summary["labelled"] == 9 and summary["errors"] == 2
    rows = _read_csv(out)
    assert list(rows[0]) == ["ID", "wav", "duration", *DIMENSIONS]
    assert [row["ID"] for row in rows] == [
        "ASR_spk1_snt1",
        "ASR_spk1_snt3",
        "ASR_spk2_snt1",
        "TTS_LJ050-0131",
        "long_noise",
        "stereo_44k",
        "sub/noise0",
        "sub/noise1",
        "sub/noise2",
    ]
    # Every row holds the label of its own file, computed clip by clip.
    for row in rows:
        samples = torch.from_numpy(read_audio(row["wav"]))
        with torch.no_grad():
            expected = teacher(samples[None])[0].numpy()
        got = np.array([float(row[d]) for d in DIMENSIONS])
        assert np.allclose(got, expected, atol=1e-5), row["ID"]
        assert float(row["duration"]) == pytest.approx(len(samples) / 16000)
    sidecar = json.loads(cache_paths(out)["sidecar"].read_text())
    assert sidecar["fingerprint"] == teacher_fingerprint(teacher)
    assert sidecar["teacher"]["name"] == "wavlm_odyssey"
    assert sidecar["sample_rate"] == 16000 and sidecar["complete"] is True
    assert not cache_paths(out)["parts"].exists()


def test_silent_nan_and_too_short_files_are_errors(teacher, tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    speech = sf.read(DATA / SPEECH_16K[0], dtype="float32")[0]
    sf.write(audio / "good.wav", speech, 16000)
    sf.write(audio / "silent.wav", np.zeros(16000), 16000)
    with_nan = speech.copy()
    with_nan[100] = np.nan
    sf.write(audio / "nan.wav", with_nan, 16000, subtype="FLOAT")
    sf.write(audio / "blip.wav", speech[:300], 16000)
    out = tmp_path / "labels.csv"
    PseudoLabeller(teacher, progress=False).label_folder(audio, out)
    reasons = {
        r["ID"]: r["reason"] for r in _read_csv(cache_paths(out)["errors"])
    }
    assert sorted(reasons) == ["blip", "nan", "silent"]
    assert "silent" in reasons["silent"]
    assert "NaN" in reasons["nan"]
    assert "too short" in reasons["blip"]
    assert [r["ID"] for r in _read_csv(out)] == ["good"]


def test_manifest_keeps_placeholders_and_reruns_do_nothing(
    corpus, teacher, tmp_path
):
    manifest = tmp_path / "train.csv"
    names = ["ASR_spk1_snt1", "TTS_LJ050-0131", "ASR_spk2_snt1"]
    with open(manifest, "w", encoding="utf-8") as stream:
        stream.write("ID,duration,wav,spk_id\n")
        for name in names:
            stream.write(f"utt_{name},1.0,$data_root/{name}.wav,s1\n")
    items = manifest_items(manifest, {"data_root": str(corpus)})
    out = tmp_path / "labels.csv"
    labeller = PseudoLabeller(teacher, progress=False)
    first = labeller.label(items, out)
    rows = _read_csv(out)
    assert [r["ID"] for r in rows] == [f"utt_{n}" for n in names]
    assert rows[0]["wav"] == "$data_root/ASR_spk1_snt1.wav"
    assert float(rows[1]["duration"]) == pytest.approx(7.658125)
    assert first["labelled"] == 3 and first["already_done"] == 0
    before = out.read_bytes()
    second = labeller.label(items, out)
    assert second["labelled"] == 0 and second["already_done"] == 3
    assert out.read_bytes() == before
    cache = read_label_cache(out, fingerprint=teacher_fingerprint(teacher))
    assert sorted(cache["labels"]) == sorted(f"utt_{n}" for n in names)
    with pytest.raises(ValueError, match=r"train.csv:2: .*\$data_root"):
        manifest_items(manifest)


def _journal_rows(journal):
    """Complete rows in a journal (its header line not counted)."""
    if not journal.is_file():
        return 0
    return max(journal.read_bytes().count(b"\n") - 1, 0)


def _kill_once_journalled(args, journal, rows, logs, timeout=120):
    """Starts `wav2small label` and SIGKILLs it from outside as soon as
    ``journal`` holds at least ``rows`` rows; returns its exit status."""
    command = [sys.executable, "-m", "speechbrain_wav2small.cli", "label"]
    with open(logs, "w") as log:
        process = subprocess.Popen(
            command + args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if _journal_rows(journal) >= rows:
                    os.kill(process.pid, signal.SIGKILL)
                    break
                time.sleep(0.001)
            return process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()


def test_sigkill_mid_run_then_resume_equals_uninterrupted(
    corpus, teacher, teacher_folder, tmp_path
):
    reference = tmp_path / "reference.csv"
    PseudoLabeller(
        teacher, batch_seconds=6, max_batch_size=2, progress=False
    ).label_folder(corpus, reference)
    out = tmp_path / "labels.csv"
    args = [
        "--teacher",
        "wavlm_odyssey",
        "--teacher_source",
        str(teacher_folder),
        "--audio-dir",
        str(corpus),
        "--out",
        str(out),
        "--batch_seconds",
        "6",
        "--max_batch_size",
        "2",
    ]
    journal = cache_paths(out)["parts"] / "rank0.labels.csv"
    logs = tmp_path / "killed.log"
    status = _kill_once_journalled(args, journal, rows=1, logs=logs)
    assert status == -signal.SIGKILL, logs.read_text()
    # A write cut short by the kill: half a row, no line end.
    with open(journal, "a", encoding="utf-8") as stream:
        stream.write("torn-id,/a/torn/wr")
    written = journal.read_text()
    assert not written.endswith("\n")  # a torn last line
    assert not out.exists()
    sidecar = json.loads(cache_paths(out)["sidecar"].read_text())
    assert sidecar["complete"] is False
    done_before = written.count("\n") - 1
    assert 0 < done_before < 9

    resumed = _run_cli(args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done_before} clips were already done" in resumed.stdout
    assert f"labelled {9 - done_before} clips" in resumed.stdout
    assert "clips/s" in resumed.stdout and "audio s/s" in resumed.stdout
    _assert_same_cache(out, reference)
    assert len(_read_csv(cache_paths(out)["errors"])) == 0
    assert not cache_paths(out)["parts"].exists()


def test_two_process_torchrun_equals_one_process(
    corpus, teacher, teacher_folder, tmp_path
):
    reference = tmp_path / "one.csv"
    PseudoLabeller(teacher, progress=False).label_folder(corpus, reference)
    out = tmp_path / "two.csv"
    result = _run_cli(
        [
            "--teacher",
            "wavlm_odyssey",
            "--teacher_source",
            str(teacher_folder),
            "--audio-dir",
            str(corpus),
            "--out",
            str(out),
            "--batch_seconds",
            "8",
            "--no_progress",
        ],
        torchrun=True,
    )
    assert result.returncode == 0, result.stderr
    assert "labelled 9 clips" in result.stdout
    _assert_same_cache(out, reference)
    sidecar = json.loads(cache_paths(out)["sidecar"].read_text())
    assert sidecar["fingerprint"] == teacher_fingerprint(teacher)


RUN_ON_MAIN_SCRIPT = """
import sys
import torch
from speechbrain.utils.distributed import run_on_main
from speechbrain_wav2small.labelling import PseudoLabeller
from speechbrain_wav2small.utils.distributed import init_distributed
from speechbrain_wav2small.teachers import load_teacher

init_distributed("cpu")
teacher = load_teacher("wavlm_odyssey", source=sys.argv[1])
labeller = PseudoLabeller(teacher, progress=False)
run_on_main(labeller.label_folder, args=[sys.argv[2], sys.argv[3]])
torch.distributed.destroy_process_group()
"""


def test_inside_run_on_main_rank_zero_labels_everything(
    corpus, teacher_folder, tmp_path
):
    # What a recipe does: label on the main process of a DDP job.
    script = tmp_path / "recipe.py"
    script.write_text(RUN_ON_MAIN_SCRIPT)
    out = tmp_path / "labels.csv"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(teacher_folder),
        str(corpus),
        str(out),
    ]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert len(_read_csv(out)) == 9


def test_cache_of_another_teacher_is_refused(corpus, teacher, tmp_path):
    out = tmp_path / "labels.csv"
    items = folder_items(corpus)[:3]
    PseudoLabeller(teacher, progress=False).label(items, out)
    before = out.read_bytes()
    other = build_teacher("wavlm_odyssey", seed=8)
    with pytest.raises(StaleCacheError, match="--overwrite"):
        PseudoLabeller(other, progress=False).label(items, out)
    assert out.read_bytes() == before
    with pytest.raises(StaleCacheError):
        read_label_cache(out, fingerprint=teacher_fingerprint(other))
    # The same refusal from the command line, as an error message.
    assert (
        cli_main(
            [
                "label",
                "--teacher",
                "dawn",
                "--teacher_source",
                str(save_teacher(build_teacher("dawn"), tmp_path / "dawn")),
                "--audio-dir",
                str(corpus),
                "--out",
                str(out),
                "--no_progress",
            ]
        )
        == 1
    )
    summary = PseudoLabeller(other, progress=False).label(
        items, out, overwrite=True
    )
    assert summary["labelled"] == 3 and summary["already_done"] == 0
    sidecar = json.loads(cache_paths(out)["sidecar"].read_text())
    assert sidecar["fingerprint"] == teacher_fingerprint(other)


def test_file_without_sidecar_is_never_overwritten(corpus, teacher, tmp_path):
    out = tmp_path / "my_results.csv"
    out.write_text("ID,something\nx,1\n")
    with pytest.raises(StaleCacheError, match="sidecar"):
        PseudoLabeller(teacher, progress=False).label(folder_items(corpus), out)
    assert out.read_text() == "ID,something\nx,1\n"


def test_incomplete_cache_is_not_read_as_complete(corpus, teacher, tmp_path):
    out = tmp_path / "labels.csv"
    PseudoLabeller(teacher, progress=False).label(folder_items(corpus)[:2], out)
    sidecar_path = cache_paths(out)["sidecar"]
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["complete"] = False
    sidecar_path.write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="incomplete"):
        read_label_cache(out)
    assert len(read_label_cache(out, require_complete=False)["labels"]) == 2


def test_duration_batches_respect_the_budget():
    rng = np.random.default_rng(0)
    durations = rng.uniform(0.5, 15.0, size=200).tolist()
    batches = duration_batches(durations, 60.0, max_batch_size=16)
    assert sorted(i for b in batches for i in b) == list(range(200))
    for batch in batches:
        longest = max(durations[i] for i in batch)
        assert len(batch) <= 16
        assert len(batch) == 1 or len(batch) * longest <= 60.0
    # With a 12 s window no clip costs more than 12 s.
    windowed = duration_batches([30.0, 30.0, 30.0], 36.0, window_seconds=12)
    assert windowed == [[0, 1, 2]]


def test_cli_names_a_missing_manifest(tmp_path, capsys):
    status = cli_main(
        [
            "label",
            "--teacher",
            "dawn",
            "--teacher_source",
            str(save_teacher(build_teacher("dawn"), tmp_path / "t")),
            "--manifest",
            str(tmp_path / "nope.csv"),
            "--out",
            str(tmp_path / "labels.csv"),
        ]
    )
    assert status == 1
    assert "nope.csv does not exist" in capsys.readouterr().err


def test_cli_labels_a_manifest_with_placeholders(
    corpus, teacher, teacher_folder, tmp_path, capsys
):
    manifest = tmp_path / "dev.csv"
    manifest.write_text(
        "ID,wav,duration\n"
        "a,$data_root/ASR_spk1_snt1.wav,2.87\n"
        "b,$corpus/sub/noise1.wav,2.0\n"
    )
    out = tmp_path / "labels.csv"
    status = cli_main(
        [
            "label",
            "--teacher",
            "wavlm_odyssey",
            "--teacher_source",
            str(teacher_folder),
            "--manifest",
            str(manifest),
            "--data_root",
            str(corpus),
            "--replace",
            f"corpus={corpus}",
            "--out",
            str(out),
            "--no_progress",
        ]
    )
    assert status == 0
    assert "labelled 2 clips" in capsys.readouterr().out
    rows = _read_csv(out)
    assert [r["wav"] for r in rows] == [
        "$data_root/ASR_spk1_snt1.wav",
        "$corpus/sub/noise1.wav",
    ]
    labels = _labels(out)
    samples = torch.from_numpy(read_audio(corpus / "sub" / "noise1.wav"))
    with torch.no_grad():
        expected = teacher(samples[None])[0].numpy()
    assert np.allclose(labels["b"], expected, atol=1e-5)
