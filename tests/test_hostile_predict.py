"""``wav2small predict`` and the file-prediction layer under hostile input.

Each test runs the real failure: windows and hops that cannot work, a
real ``wav2small predict`` process killed by SIGTERM, SIGINT or SIGKILL
after its first rows (then resumed), an ``--out`` that is a folder or in
a folder the process may not write (run without the capabilities that let
root write anywhere), float WAV samples near the float32 limit, file
names that are not UTF-8.
"""

import csv
import fcntl
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA
from fitted_students import packaged_wav2small

# The fixture that runs a command without root's override capabilities.
from test_hostile_io import run_unprivileged  # noqa: F401

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.cli import main
from speechbrain_wav2small.cli.predict import write_rows
from speechbrain_wav2small.cli.prediction_results import error_row
from speechbrain_wav2small.inference import OnnxEmotionDimensions
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.inference.file_prediction import window_bounds

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEECH = DATA / "ASR_spk1_snt1.wav"
#: Files in the corpus that a run is killed in.
CORPUS_FILES = 300


@pytest.fixture(scope="module")
def package():
    built = packaged_wav2small()
    assert built["status"] == 0
    return built["package"]


@pytest.fixture(scope="module", params=["torch", "onnx"])
def predictor(request, package, tmp_path_factory):
    if request.param == "onnx":
        return OnnxEmotionDimensions(package, prefer_int8=False)
    return EmotionDimensions.from_hparams(
        source=str(package), savedir=str(tmp_path_factory.mktemp("savedir"))
    )


@pytest.fixture(scope="module")
def speech():
    samples, _ = sf.read(SPEECH, dtype="float32")
    return samples


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, speech):
    """Many short real-speech files: a run over them lasts long enough to
    be killed after its first rows."""
    folder = tmp_path_factory.mktemp("corpus")
    for index in range(CORPUS_FILES):
        clip = speech[index * 50 : index * 50 + 4000]
        sf.write(folder / f"clip_{index:04d}.wav", clip, 16000, "PCM_16")
    return folder


def _cli(args):
    """``python -m speechbrain_wav2small.cli predict ARGS``."""
    return [sys.executable, "-m", "speechbrain_wav2small.cli", "predict", *args]


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _strict_json(path):
    """The JSON in ``path``, refusing the NaN and Infinity that Python's
    reader takes by default."""

    def refuse(constant):
        raise ValueError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text("utf-8"), parse_constant=refuse)


# --------------------------------------------------------------------------
# 1. Window and hop


@pytest.mark.parametrize(
    "options,reason",
    [
        (["--window", "1", "--hop", "2"], "hop 2 s is longer than the window"),
        (["--window", "inf"], "window must be a finite number"),
        (["--window", "nan"], "window must be a finite number"),
        (["--window", "0"], "window must be positive"),
        (["--window", "1", "--hop", "-1"], "hop must be positive"),
        (["--hop", "1"], "a hop needs a window"),
    ],
)
def test_bad_window_or_hop_is_a_usage_error_before_any_work(
    tmp_path, capsys, options, reason
):
    out = tmp_path / "results.csv"
    # A model that does not exist: the options are refused before it is
    # looked for.
    args = [str(SPEECH), "--model", str(tmp_path / "no model"), "--out"]
    status = main(["predict", *args, str(out), *options])
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --window/--hop: ") and reason in error
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("window", ["1e-300", "0.001"])
def test_window_shorter_than_the_model_takes(package, tmp_path, window):
    # In a process of its own: with no lower limit, 1e-300 s windows
    # never end.
    out = tmp_path / "results.csv"
    args = [str(SPEECH), "--model", str(package / "model.onnx")]
    completed = subprocess.run(
        _cli([*args, "--window", window, "--out", str(out)]),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert (
        f"window {float(window):g} s is shorter than the shortest clip this "
        "model takes (0.004 s)" in completed.stderr
    )
    assert not out.exists()


def test_window_and_hop_checked_by_the_file_methods(predictor, speech):
    assert predictor.min_samples == 64
    calls = (
        predictor.predict_file,
        predictor.embed_file,
        lambda path, **kwargs: predictor.predict_files([path], **kwargs),
    )
    for call in calls:
        for kwargs, reason in (
            ({"window": 1.0, "hop": 2.0}, "hop 2 s is longer than"),
            ({"window": math.inf}, "window must be a finite number"),
            ({"window": 1e-300}, "shorter than the shortest clip"),
            ({"hop": 1.0}, "a hop needs a window"),
        ):
            with pytest.raises(ValueError, match=reason):
                call(SPEECH, **kwargs)


def test_no_window_starts_past_the_end(predictor, tmp_path, speech):
    path = tmp_path / "one_second.wav"
    sf.write(path, speech[:16000], 16000, "PCM_16")
    # Three windows of a third of a second reach 0.99999999 s: what is
    # left is no sample, not a window "without samples".
    result = predictor.predict_file(path, window=0.33333333)
    assert [(w["start"], w["end"]) for w in result["windows"]] == [
        (0.0, 0.333333),
        (0.333333, 0.666667),
        (0.666667, 1.0),
    ]
    assert np.isfinite([result[name] for name in DIMENSIONS]).all()
    # A last window of one sample is still made, and predicted.
    sf.write(path, speech[:16001], 16000, "PCM_16")
    windows = predictor.predict_file(path, window=0.5)["windows"]
    assert windows[-1]["start"] == 1.0
    assert windows[-1]["end"] == round(16001 / 16000, 6)
    for duration in (1.5, 1.0, 0.2):
        for window, hop in ((1.0, 1.0), (1.0, 0.3), (0.25, 0.1)):
            bounds = window_bounds(duration, window, hop, sample_rate=16000)
            assert all(start < duration for start, _ in bounds)
            assert bounds[-1][1] == duration


# --------------------------------------------------------------------------
# 2. Rows written as they are done


def test_out_that_is_a_folder_is_refused_before_any_work(tmp_path, capsys):
    taken = tmp_path / "results.csv"
    taken.mkdir()
    model = str(tmp_path / "no model")
    status = main(
        ["predict", str(SPEECH), "--model", model, "--out", str(taken)]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert f"error: --out {taken} is a folder" in error
    assert list(tmp_path.iterdir()) == [taken]


def test_out_in_a_missing_folder_is_created(package, tmp_path):
    out = tmp_path / "new" / "folder" / "results.json"
    model = str(package / "model.onnx")
    status = main(["predict", str(SPEECH), "--model", model, "--out", str(out)])
    assert status == 0
    (row,) = _strict_json(out)
    assert row["error"] == "" and row["path"] == str(SPEECH)
    assert os.listdir(out.parent) == ["results.json"]


@pytest.mark.parametrize("name", ["results.csv", "results.json"])
def test_out_in_a_read_only_folder_is_refused_before_any_work(
    package,
    tmp_path,
    run_unprivileged,  # noqa: F811
    name,
):
    folder = tmp_path / "read only"
    folder.mkdir()
    earlier = folder / name
    earlier.write_text("earlier results\n")
    folder.chmod(0o555)
    try:
        # The test is only worth something if the writer is really stopped.
        probe = run_unprivileged(
            [sys.executable, "-c", f"open({str(folder / 'x')!r}, 'w')"]
        )
        assert probe.returncode != 0 and "PermissionError" in probe.stderr
        model = str(package / "model.onnx")
        for out in (earlier, folder / "sub" / name):
            result = run_unprivileged(
                _cli([str(SPEECH), "--model", model, "--out", str(out)])
            )
            assert result.returncode == 2, result.stderr[-3000:]
            assert result.stderr.startswith(f"error: --out {out}: cannot ")
            assert "permission denied" in result.stderr
            # One line, before the model is even read.
            assert len(result.stderr.strip().splitlines()) == 1
        assert sorted(os.listdir(folder)) == [name]
        assert earlier.read_text() == "earlier results\n"
    finally:
        folder.chmod(0o755)


@pytest.fixture(scope="module")
def uninterrupted(package, corpus, tmp_path_factory):
    """The results of one uninterrupted run over the corpus, CSV and
    JSON."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    model = str(package / "model.int8.onnx")
    outputs = {}
    for extension in ("csv", "json"):
        out = folder / f"results.{extension}"
        args = [str(corpus), "--model", model, "--out", str(out), "--quiet"]
        assert main(["predict", *args]) == 0
        outputs[extension] = out
    return outputs


def _rows(path):
    """The rows of a CSV or JSON results file, as text."""
    if path.suffix == ".csv":
        return _read_csv(path)
    return [{k: str(v) for k, v in row.items()} for row in _strict_json(path)]


def _interruptible_low_priority():
    """Runs in the child before ``exec``: restores SIGINT and lowers the
    priority.

    A suite started in the background (``cmd &``, nohup, some CI runners)
    inherits SIGINT ignored, and Python then installs no
    ``KeyboardInterrupt`` handler, so the child would never see Ctrl-C.
    The lower priority keeps the run from finishing all its files before
    this poller, on a busy machine, sees the first rows.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.nice(10)


def _kill_after(process, partial, lines, signum):
    """Sends ``signum`` to ``process`` once ``partial`` holds ``lines``
    lines; returns its exit status."""
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if partial.exists() and partial.read_bytes().count(b"\n") >= lines:
            process.send_signal(signum)
            break
        time.sleep(0.002)
    return process.wait(timeout=120)


@pytest.mark.parametrize(
    "extension,signum,status",
    [
        ("csv", signal.SIGTERM, 143),
        ("json", signal.SIGINT, 130),
        ("csv", signal.SIGKILL, -signal.SIGKILL),
        ("json", signal.SIGKILL, -signal.SIGKILL),
    ],
)
def test_killed_run_keeps_its_rows_and_resumes(
    package, corpus, uninterrupted, tmp_path, extension, signum, status
):
    out = tmp_path / f"results.{extension}"
    partial = (
        tmp_path
        / {"csv": "results.partial.csv", "json": "results.partial.jsonl"}[
            extension
        ]
    )
    # Results of an earlier run, which no crash may lose.
    out.write_text("earlier results\n")
    args = [str(corpus), "--model", str(package / "model.int8.onnx")]
    args += ["--out", str(out), "--quiet"]
    with open(tmp_path / "run.log", "w") as log:
        process = subprocess.Popen(
            _cli(args),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_interruptible_low_priority,
        )
    assert _kill_after(process, partial, 5, signum) == status, (
        "the run ended before the signal: "
        + (tmp_path / "run.log").read_text()[-2000:]
    )
    log = (tmp_path / "run.log").read_text()
    assert out.read_text() == "earlier results\n"
    if extension == "csv":
        written = _read_csv(partial)
    else:
        lines = partial.read_text("utf-8").splitlines()
        written = [row for line in lines for row in json.loads(line)]
    expected = _rows(uninterrupted[extension])
    assert 4 <= len(written) < CORPUS_FILES, log
    assert [{k: str(v) for k, v in r.items()} for r in written] == expected[
        : len(written)
    ]
    if signum != signal.SIGKILL:
        assert f"the rows so far are in {partial}" in log
        assert "--resume" in log
    else:
        # What a kill in the middle of a write leaves: half a row.
        with open(partial, "ab") as stream:
            stream.write(b'{"path": "' if extension == "json" else b"/half/")

    # Without --resume, the unfinished run is not thrown away.
    again = subprocess.run(
        _cli(args), cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 2
    assert "holds the rows of an unfinished run" in again.stderr
    assert "--resume" in again.stderr

    resumed = subprocess.run(
        _cli([*args, "--resume"]),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _rows(out) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name, "run.log"]


def test_resume_adds_new_files_to_finished_results(package, speech, tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    for index in range(3):
        sf.write(folder / f"a{index}.wav", speech[: 8000 + index], 16000)
    model = str(package / "model.onnx")
    out = tmp_path / "results.csv"
    args = [str(folder), "--model", model, "--out", str(out), "--quiet"]
    assert main(["predict", *args]) == 0
    before = out.read_bytes()
    sf.write(folder / "b.wav", speech[:9000], 16000)
    sf.write(folder / "a1.wav", speech[:100], 16000)  # already predicted
    assert main(["predict", *args, "--resume"]) == 0
    after = out.read_bytes()
    assert after.startswith(before)
    rows = _read_csv(out)
    assert [os.path.basename(row["path"]) for row in rows] == [
        "a0.wav",
        "a1.wav",
        "a2.wav",
        "b.wav",
    ]
    assert all(row["error"] == "" for row in rows)
    # Resuming with embeddings would mix two kinds of rows: refused, and
    # the finished results stay as they are.
    assert main(["predict", *args, "--resume", "--embeddings"]) == 1
    assert out.read_bytes() == after
    assert sorted(os.listdir(tmp_path)) == ["audio", "results.csv"]


def test_a_second_run_on_the_same_partial_file_is_refused(
    package, tmp_path, capsys
):
    out = tmp_path / "results.csv"
    partial = tmp_path / "results.partial.csv"
    partial.write_text("path,level,start,end,arousal,dominance,valence,error\n")
    model = str(package / "model.onnx")
    args = [str(SPEECH), "--model", model, "--out", str(out), "--resume"]
    with open(partial) as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["predict", *args]) == 1
    assert "being written by another wav2small predict run" in (
        capsys.readouterr().err
    )
    assert not out.exists()
    assert main(["predict", *args]) == 0
    assert len(_read_csv(out)) == 1 and not partial.exists()


# --------------------------------------------------------------------------
# 3. Model output that is not finite


@pytest.fixture(scope="module")
def huge(tmp_path_factory, speech):
    """Real speech scaled to the edge of float32 (finite samples)."""
    path = tmp_path_factory.mktemp("huge") / "huge.wav"
    samples = speech / np.abs(speech).max() * np.float32(3e38)
    assert np.isfinite(samples).all()
    sf.write(path, samples, 16000, subtype="FLOAT")
    return path


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_non_finite_output_is_an_error_row(package, huge, tmp_path, backend):
    out = tmp_path / "results.json"
    # The float ONNX file (the int8 one clamps what it quantises: its
    # outputs on such samples are finite, if meaningless).
    model = package / ("model.onnx" if backend == "onnx" else "")
    options = ["--model", str(model), "--backend", backend, "--quiet"]
    status = main(
        ["predict", str(huge), str(SPEECH), *options, "--out", str(out)]
    )
    assert status == 0
    bad, good = _strict_json(out)
    assert bad["error"].startswith("model output is not finite")
    assert bad["arousal"] is None and good["error"] == ""
    status = main(["predict", str(huge), *options, "--window", "0.5"])
    assert status == 1  # no file could be predicted


def test_non_finite_output_is_an_error_of_the_file_methods(
    predictor, huge, tmp_path, speech
):
    for call in (predictor.predict_file, predictor.embed_file):
        with pytest.raises(ValueError, match="model output is not finite"):
            call(huge)
    # Sane speech, then a second half near the float32 limit.
    path = tmp_path / "second_half.wav"
    samples = speech[:16000].copy()
    samples[8000:] /= np.abs(samples[8000:]).max()
    samples[8000:] *= np.float32(3e38)
    sf.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"not finite .* window 0.5-1.0 s"):
        predictor.predict_file(path, window=0.5)
    with pytest.raises(ValueError, match="not finite") as error:
        predictor.predict_files([SPEECH, huge])
    assert error.value.path == str(huge)


def test_write_rows_never_writes_nan_json(tmp_path):
    row = {**error_row("a.wav", ""), "arousal": math.nan}
    with pytest.raises(ValueError, match="Out of range float values"):
        write_rows([row], str(tmp_path / "results.json"))
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------
# 5. File names that are not UTF-8


def test_file_names_that_are_not_utf8(package, tmp_path, speech, capsys):
    folder = tmp_path / "audio"
    folder.mkdir()
    sf.write(folder / "good.wav", speech[:8000], 16000)
    # A Latin-1 "é", as old archives hold.
    sf.write(os.fsencode(folder) + b"/caf\xe9.wav", speech[:8000], 16000)
    escaped = {
        # Predicted like any other file; its name written escaped.
        str(folder / "caf\\xe9.wav"): "",
        str(folder / "good.wav"): "",
    }
    model = str(package / "model.onnx")
    for name in ("results.csv", "results.json"):
        out = tmp_path / name
        args = [str(folder), "--model", model, "--out", str(out), "--quiet"]
        assert main(["predict", *args]) == 0
        rows = {row["path"]: row["error"] for row in _rows(out)}
        assert sorted(rows) == sorted(escaped)
        assert rows == escaped
    # And to standard output.
    assert main(["predict", str(folder), "--model", model, "--quiet"]) == 0
    assert "caf\\xe9.wav" in capsys.readouterr().out
    # write_rows, for rows of one's own.
    name = os.fsdecode(b"caf\xe9.wav")
    write_rows([error_row(name, "")], str(tmp_path / "own.csv"))
    assert _read_csv(tmp_path / "own.csv")[0]["path"] == "caf\\xe9.wav"
