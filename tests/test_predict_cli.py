"""``wav2small predict`` over files and folders, good and bad."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA
from fitted_students import packaged_wav2small

from speechbrain_wav2small.cli import main
from speechbrain_wav2small.cli.predict import COLUMNS
from speechbrain_wav2small.inference.emotion import EmotionDimensions


@pytest.fixture(scope="module")
def package():
    built = packaged_wav2small()
    assert built["status"] == 0
    return built["package"]


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """Three good files (one nested, one FLAC at 22.05 kHz), four bad ones
    with audio extensions, and a text file that is not picked up."""
    folder = tmp_path_factory.mktemp("mixed inputs")
    speech, _ = sf.read(DATA / "ASR_spk1_snt1.wav", dtype="float32")
    (folder / "nested dir").mkdir()
    sf.write(folder / "good one.wav", speech, 16000)
    sf.write(folder / "nested dir" / "good_two.wav", speech[:20000], 16000)
    sf.write(folder / "good_three.flac", speech, 22050)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.wav").write_text("not audio")
    sf.write(folder / "no_samples.wav", np.zeros(0, np.float32), 16000)
    broken = speech.copy()
    broken[100] = np.nan
    sf.write(folder / "nan.wav", broken, 16000, subtype="FLOAT")
    (folder / "readme.txt").write_text("ignored: not an audio extension")
    return folder


def _read_csv(path):
    with open(path, encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def test_folder_with_good_and_bad_files(package, mixed_folder, tmp_path):
    out = tmp_path / "results.csv"
    status = main(
        [
            "predict",
            str(mixed_folder),
            "--model",
            str(package),
            "--out",
            str(out),
        ]
    )
    assert status == 0
    rows = _read_csv(out)
    assert tuple(rows[0]) == COLUMNS
    by_name = {row["path"].rsplit("/", 1)[-1]: row for row in rows}
    assert len(rows) == 7 and len(by_name) == 7
    for name in ("good one.wav", "good_two.wav", "good_three.flac"):
        row = by_name[name]
        assert row["error"] == "" and row["level"] == "file"
        assert np.isfinite([float(row[d]) for d in COLUMNS[4:7]]).all()
        assert float(row["start"]) == 0.0 and float(row["end"]) > 1.0
    expected = {
        "empty.wav": "empty",
        "text.wav": "not a readable audio file",
        "no_samples.wav": "no samples",
        "nan.wav": "NaN or Inf",
    }
    for name, reason in expected.items():
        row = by_name[name]
        assert reason in row["error"]
        assert row["arousal"] == "" and row["valence"] == ""
    # The scores are the model's, through the Python interface.
    model = EmotionDimensions.from_hparams(
        source=str(package), savedir=str(tmp_path / "savedir")
    )
    direct = model.predict_file(mixed_folder / "good one.wav")
    assert float(by_name["good one.wav"]["valence"]) == pytest.approx(
        direct["valence"], abs=1e-6
    )


def test_windows_json_and_onnx_model(package, tmp_path):
    out = tmp_path / "windows.json"
    long_speech = DATA / "TTS_LJ050-0131.wav"
    status = main(
        [
            "predict",
            str(long_speech),
            str(tmp_path / "missing.wav"),
            "--model",
            str(package / "model.onnx"),
            "--window",
            "3",
            "--hop",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert status == 0
    rows = json.loads(out.read_text())
    files = [r for r in rows if r["level"] == "file"]
    windows = [r for r in rows if r["level"] == "window"]
    assert len(files) == 2
    assert [(w["start"], w["end"]) for w in windows] == [
        (0.0, 3.0),
        (2.0, 5.0),
        (4.0, 7.0),
        (6.0, 7.658095),
    ]
    assert "does not exist" in files[1]["error"]
    weights = np.array([w["end"] - w["start"] for w in windows])
    arousal = np.array([w["arousal"] for w in windows])
    assert files[0]["arousal"] == pytest.approx(
        float(weights @ arousal / weights.sum())
    )


def test_csv_to_stdout(package, capsys):
    status = main(
        ["predict", str(DATA / "ASR_spk2_snt1.wav"), "--model", str(package)]
    )
    assert status == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 2
    assert "1 of 1 files predicted" in captured.err


def test_nothing_succeeded_exits_non_zero(package, mixed_folder, tmp_path):
    out = tmp_path / "bad.csv"
    status = main(
        [
            "predict",
            str(mixed_folder / "empty.wav"),
            str(mixed_folder / "text.wav"),
            "--model",
            str(package),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert status == 1
    assert len(_read_csv(out)) == 2
    empty = tmp_path / "no audio here"
    empty.mkdir()
    assert main(["predict", str(empty), "--model", str(package)]) == 1


def test_bad_model_and_options(package, tmp_path, capsys):
    speech = str(DATA / "ASR_spk2_snt1.wav")
    assert main(["predict", speech, "--model", str(tmp_path / "nope")]) == 1
    assert "cannot load model" in capsys.readouterr().err
    assert main(["predict", speech, "--model", str(package), "--hop", "1"]) == 2
    out = str(tmp_path / "x.txt")
    assert main(["predict", speech, "--model", str(package), "--out", out]) == 2
