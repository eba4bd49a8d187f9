"""Hostile but fair input: odd sample rates, unreadable folders and files,
line breaks in file names, two labelling runs on one cache.

Each test reproduces the real failure: real files at odd rates read in a
process whose address space is capped, real folders the reading process
may not enter (run without the capabilities that let root read anything),
a real second ``wav2small label`` process.
"""

import csv
import fcntl
import inspect
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import soxr
from conftest import DATA, SPEECH_16K
from fitted_students import packaged_wav2small

from speechbrain_wav2small.cli import main as cli_main
from speechbrain_wav2small.dataio.audio import read_audio, resample
from speechbrain_wav2small.labelling import (
    cache_paths,
    manifest_items,
    read_label_cache,
)
from speechbrain_wav2small.labelling.cache import (
    build_sidecar,
    cache_lock,
    start_cache,
)
from speechbrain_wav2small.labelling.journal import finish_cache, open_journal
from speechbrain_wav2small.teachers import build_teacher, save_teacher

REPO = Path(__file__).resolve().parents[1]
SPEECH = DATA / "ASR_spk1_snt1.wav"

#: Largest error of a resampled pure tone against its exact value, away
#: from the ends (worst measured: 9e-7, at 22254 Hz).
TONE_TOLERANCE = 2e-6
#: Largest error of resampled band-limited speech against the original,
#: below the band (worst measured: 7.4e-5, from 22.05 and 44.1 kHz; the
#: hand-written resampler this replaced: 4.2e-3).
SPEECH_TOLERANCE = 2e-4

NORMAL_RATES = (8000, 11025, 22050, 44100, 48000, 96000, 192000)
ODD_RATES = (22254, 11127, 16001)


# --------------------------------------------------------------------------
# Helpers


def _tone(rate, seconds=1.0, frequency=1000.0):
    """A pure tone at ``rate`` and its exact value at 16 kHz."""
    phase = 0.3

    def at(times):
        """The tone's value at ``times`` (s)."""
        return 0.5 * np.sin(2 * np.pi * frequency * times + phase)

    wave = at(np.arange(int(rate * seconds)) / rate).astype(np.float32)
    exact = at(np.arange(int(16000 * seconds)) / 16000)
    return wave, exact


def _lowpass(signal, hertz, rate=16000):
    """``signal`` without anything above ``hertz`` (an ideal filter)."""
    spectrum = np.fft.rfft(np.asarray(signal, np.float64))
    spectrum[np.fft.rfftfreq(len(signal), 1 / rate) > hertz] = 0
    return np.fft.irfft(spectrum, len(signal))


def _band_limited_speech(rate):
    """One second of real speech, band-limited to 87.5 % of the lower
    Nyquist frequency, converted exactly (by FFT) to ``rate``; and that
    speech at 16 kHz, and the band."""
    speech, _ = sf.read(SPEECH, dtype="float64")
    band = min(rate, 16000) / 2 * 0.875
    original = _lowpass(speech[8000:24000], band)
    converted = scipy.signal.resample(original, rate).astype(np.float32)
    return converted, original, band


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _cli(args):
    """``python -m speechbrain_wav2small.cli ARGS`` from the repository."""
    return [sys.executable, "-m", "speechbrain_wav2small.cli", *args]


# --------------------------------------------------------------------------
# 1. Resampling


@pytest.mark.parametrize("rate", NORMAL_RATES)
def test_pure_tone_is_exact_after_reading(tmp_path, rate):
    path = tmp_path / f"tone_{rate}.wav"
    for frequency in (440.0, 3000.0, 3500.0):
        wave, exact = _tone(rate, frequency=frequency)
        sf.write(path, wave, rate, subtype="FLOAT")
        got = read_audio(path)
        assert len(got) == len(exact)
        error = np.abs(got - exact)[800:-800].max()
        assert error <= TONE_TOLERANCE, (rate, frequency, error)


@pytest.mark.parametrize("rate", NORMAL_RATES)
def test_band_limited_speech_comes_back(rate):
    converted, original, band = _band_limited_speech(rate)
    got = resample(converted, rate, 16000)
    assert got.dtype == np.float32 and len(got) == len(original)
    error = np.abs(_lowpass(got, band) - original)[800:-800].max()
    assert error <= SPEECH_TOLERANCE, (rate, error)


ODD_RATES_SCRIPT = """
import json, resource, sys
import numpy as np
import scipy.signal
import soundfile as sf
from speechbrain_wav2small.dataio.audio import read_audio, resample

{helpers}
folder, report = sys.argv[1], {{}}
for rate in {rates}:
    wave, exact = _tone(rate, seconds=30.0)
    sf.write(f"{{folder}}/{{rate}}.wav", wave, rate, subtype="FLOAT")
    report[rate] = {{"exact": exact[: 16000 * 3]}}

# Everything imported and written: from here on, at most 1 GiB more.
with open("/proc/self/status") as stream:
    size = next(int(line.split()[1]) for line in stream
                if line.startswith("VmSize"))
limit = (size + 1024 * 1024) * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for rate in {rates}:
    exact = report[rate].pop("exact")
    path = f"{{folder}}/{{rate}}.wav"
    whole = read_audio(path)
    windows = [read_audio(path, 16000, s, s + 1.0) for s in range(30)]
    error = np.abs(whole[: len(exact)] - exact)[800:-800].max()
    converted, original, band = _band_limited_speech(rate)
    got = resample(converted, rate, 16000)
    speech = np.abs(_lowpass(got, band) - original)[800:-800].max()
    report[rate].update(
        samples=len(whole), windows=[len(w) for w in windows],
        tone=float(error), speech=float(speech))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report["growth_mb"] = (after - before) / 1024
report["torch"] = "torch" in sys.modules
print(json.dumps(report))
"""


def test_odd_rates_in_bounded_memory(tmp_path):
    # A process of its own, so that its address space can be capped and
    # its peak memory is its own; it runs this file's own helpers.
    helpers = [f"SPEECH = {str(SPEECH)!r}"] + [
        inspect.getsource(function)
        for function in (_tone, _lowpass, _band_limited_speech)
    ]
    script = tmp_path / "odd_rates.py"
    script.write_text(
        ODD_RATES_SCRIPT.format(helpers="\n\n".join(helpers), rates=ODD_RATES)
    )
    completed = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    for rate in ODD_RATES:
        figures = report[str(rate)]
        assert figures["samples"] == 30 * 16000
        assert figures["windows"] == [16000] * 30
        assert figures["tone"] <= TONE_TOLERANCE, (rate, figures)
        assert figures["speech"] <= SPEECH_TOLERANCE, (rate, figures)
    # 30 s at 16 kHz as float32 is 1.9 MB; the resampler adds little.
    assert report["growth_mb"] < 64, report
    # The ONNX interface reads audio with this module: no PyTorch in it.
    assert report["torch"] is False


def test_a_window_resamples_only_its_own_samples(tmp_path, monkeypatch):
    converted, _, _ = _band_limited_speech(44100)
    path = tmp_path / "long_44k.wav"
    sf.write(path, np.tile(converted, 20), 44100, subtype="FLOAT")
    whole = read_audio(path)
    seen = []
    real = soxr.resample

    def spy(samples, *args, **kwargs):
        """soxr's resampler, recording how many samples it was given."""
        seen.append(len(samples))
        return real(samples, *args, **kwargs)

    monkeypatch.setattr(soxr, "resample", spy)
    window = read_audio(path, 16000, start=10.0, stop=11.0)
    # One call, on the window's 44100 samples and a few zeros past them.
    assert len(seen) == 1 and 44100 <= seen[0] <= 44100 + 8
    assert len(window) == 16000
    inner = slice(800, -800)
    got, expected = window[inner], whole[160000:176000][inner]
    assert np.abs(got - expected).max() <= SPEECH_TOLERANCE


# --------------------------------------------------------------------------
# 2. Folders and files the user may not read


def _unprivileged():
    """The command prefix that runs a process unable to read what its
    permissions forbid (root reads anything: it loses the capabilities
    that let it); ``None`` if there is no way to."""
    if os.geteuid() != 0:
        return []
    drop = "dac_override,dac_read_search"
    if shutil.which("setpriv"):
        caps = ",".join(f"-{cap}" for cap in drop.split(","))
        return ["setpriv", f"--bounding-set={caps}"]
    if shutil.which("capsh"):
        names = ",".join(f"cap_{cap}" for cap in drop.split(","))
        return ["capsh", f"--drop={names}", "--", "-c", '"$0" "$@"']
    return None


@pytest.fixture
def run_unprivileged():
    """Runs a command as a user whom ``chmod 000`` stops."""
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip(
            "running as root without setpriv or capsh: root reads a chmod "
            "000 folder, so nothing here can be made unreadable to it"
        )

    def run(command, **kwargs):
        """``subprocess.run`` of ``command`` under the prefix."""
        return subprocess.run(
            prefix + command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            **kwargs,
        )

    return run


@pytest.fixture
def locked_corpus(tmp_path, run_unprivileged):
    """Two good files, a subfolder and a file nobody may read."""
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    (folder / "locked").mkdir()
    speech, _ = sf.read(SPEECH, dtype="float32")
    sf.write(folder / "good.wav", speech, 16000)
    sf.write(folder / "sub" / "fine.wav", speech[:24000], 16000)
    sf.write(folder / "locked" / "hidden.wav", speech, 16000)
    sf.write(folder / "secret.wav", speech, 16000)
    locked = [folder / "locked", folder / "secret.wav"]
    for path in locked:
        path.chmod(0)
    # The test is only worth something if the reader is really stopped.
    probe = run_unprivileged(
        [sys.executable, "-c", f"import os; os.listdir({str(locked[0])!r})"]
    )
    assert probe.returncode != 0 and "PermissionError" in probe.stderr
    yield folder
    for path in locked:
        path.chmod(stat.S_IRWXU)


@pytest.fixture(scope="module")
def package():
    built = packaged_wav2small()
    assert built["status"] == 0
    return built["package"]


@pytest.fixture(scope="module")
def teacher_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dawn")
    return save_teacher(build_teacher("dawn", seed=3), folder)


@pytest.mark.slow
def test_predict_reports_unreadable_folders_and_files(
    package, locked_corpus, run_unprivileged, tmp_path
):
    out = tmp_path / "predictions.csv"
    inside = locked_corpus / "locked" / "hidden.wav"
    result = run_unprivileged(
        _cli(
            [
                "predict",
                str(locked_corpus),
                str(inside),
                "--model",
                str(package),
                "--backend",
                "onnx",
                "--out",
                str(out),
                "--quiet",
            ]
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    errors = {row["path"]: row["error"] for row in _read_csv(out)}
    assert errors.pop(str(locked_corpus / "good.wav")) == ""
    assert errors.pop(str(locked_corpus / "sub" / "fine.wav")) == ""
    # One row each, naming it, for the folder, the file in a readable
    # folder, and the file given inside the unreadable folder.
    assert sorted(errors) == sorted(
        str(p)
        for p in (
            locked_corpus / "locked",
            locked_corpus / "secret.wav",
            inside,
        )
    )
    assert all("permission denied" in reason for reason in errors.values())
    assert "list this folder" in errors[str(locked_corpus / "locked")]
    assert "read this file" in errors[str(locked_corpus / "secret.wav")]
    assert "folder on its path" in errors[str(inside)]


def _label_args(teacher_folder, out, *inputs):
    return [
        "label",
        "--teacher",
        "dawn",
        "--teacher_source",
        str(teacher_folder),
        *map(str, inputs),
        "--out",
        str(out),
        "--no_progress",
    ]


@pytest.mark.slow
def test_label_reports_unreadable_folders_and_files(
    teacher_folder, locked_corpus, run_unprivileged, tmp_path
):
    out = tmp_path / "labels" / "LABELS.csv"
    result = run_unprivileged(
        _cli(_label_args(teacher_folder, out, "--audio-dir", locked_corpus))
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [row["ID"] for row in _read_csv(out)] == ["good", "sub/fine"]
    reasons = {
        row["ID"]: (row["wav"], row["reason"])
        for row in _read_csv(cache_paths(out)["errors"])
    }
    assert reasons == {
        "locked/": (
            str(locked_corpus / "locked") + os.sep,
            "permission denied (cannot list this folder)",
        ),
        "secret": (
            str(locked_corpus / "secret.wav"),
            "permission denied (cannot read this file)",
        ),
    }
    sidecar = json.loads(cache_paths(out)["sidecar"].read_text())
    assert sidecar["complete"] is True
    assert (sidecar["n_labels"], sidecar["n_errors"]) == (2, 2)

    # A manifest naming a file inside the unreadable folder.
    manifest = tmp_path / "list.csv"
    manifest.write_text(
        "ID,wav\n"
        f"good,{locked_corpus / 'good.wav'}\n"
        f"hidden,{locked_corpus / 'locked' / 'hidden.wav'}\n"
    )
    out = tmp_path / "manifest_labels.csv"
    result = run_unprivileged(
        _cli(_label_args(teacher_folder, out, "--manifest", manifest))
    )
    assert result.returncode == 0, result.stderr[-3000:]
    errors = _read_csv(cache_paths(out)["errors"])
    assert [(row["ID"], row["reason"]) for row in errors] == [
        ("hidden", "permission denied (cannot enter a folder on its path)")
    ]


def test_a_cache_is_never_complete_with_clips_left_out(tmp_path):
    paths = cache_paths(tmp_path / "labels.csv")
    sidecar = build_sidecar(build_teacher("dawn"), "sha256:a")
    start_cache(paths, sidecar)
    with open_journal(paths, 0, "labels") as journal:
        journal.append([("a", "a.wav", "1.0", "0.1", "0.2", "0.3")])
    with open_journal(paths, 0, "errors") as journal:
        journal.append([("b", "b.wav", "file is empty (0 bytes)")])
    with pytest.raises(ValueError, match=r"1 clip\(s\) .*'c'"):
        finish_cache(paths, ["a", "b", "c"], sidecar)
    assert json.loads(paths["sidecar"].read_text())["complete"] is False
    cache = read_label_cache(paths["labels"], require_complete=False)
    assert list(cache["labels"]) == ["a"]


# --------------------------------------------------------------------------
# 3. File names the cache cannot hold


def test_line_break_in_a_file_name_is_reported_not_fatal(
    teacher_folder, tmp_path, capsys
):
    folder = tmp_path / "audio"
    folder.mkdir()
    for name in SPEECH_16K[:2]:
        shutil.copy(DATA / name, folder / name)
    shutil.copy(SPEECH, folder / "take\n2.wav")
    # A name that is not UTF-8 (Latin-1 "é"), as old archives hold.
    shutil.copy(SPEECH, os.fsencode(folder) + b"/caf\xe9.wav")
    out = tmp_path / "LABELS.csv"
    status = cli_main(_label_args(teacher_folder, out, "--audio-dir", folder))
    assert status == 0, capsys.readouterr().err
    assert [row["ID"] for row in _read_csv(out)] == [
        Path(name).stem for name in SPEECH_16K[:2]
    ]
    errors = _read_csv(cache_paths(out)["errors"])
    assert [row["ID"] for row in errors] == ["caf\\udce9", "take\\n2"]
    assert errors[1]["wav"] == str(folder) + "/take\\n2.wav"
    assert "contains a line break" in errors[1]["reason"]
    assert "is not valid UTF-8" in errors[0]["reason"]
    # Both files stay one row per line.
    text = cache_paths(out)["errors"].read_text(encoding="utf-8")
    assert len(text.splitlines()) == 3
    assert json.loads(cache_paths(out)["sidecar"].read_text())["complete"]


def test_line_break_in_a_manifest_row_is_reported_not_fatal(tmp_path):
    manifest = tmp_path / "list.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["ID", "wav", "duration"])
        writer.writerow(["good", str(SPEECH), "2.87"])
        writer.writerow(["odd", "take\n2.wav", "1.0"])
    good, odd = manifest_items(manifest)
    assert good.problem == "" and good.path == str(SPEECH)
    assert (odd.id, odd.wav) == ("odd", "take\\n2.wav")
    assert odd.problem.startswith("wav contains a line break")


# --------------------------------------------------------------------------
# 4. Two runs on one cache


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for name in SPEECH_16K:
        shutil.copy(DATA / name, folder / name)
    return folder


def _holder_pid(lock_file):
    """The pid a lock file records, or None."""
    try:
        return json.loads(lock_file.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.slow
def test_second_run_on_the_same_cache_is_refused(
    teacher_folder, small_corpus, tmp_path
):
    out = tmp_path / "LABELS.csv"
    args = _label_args(teacher_folder, out, "--audio-dir", small_corpus)
    args += ["--max_batch_size", "1"]
    sidecar = cache_paths(out)["sidecar"]
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(
            _cli(args), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        # Frozen once it has started the cache, before it labels.
        deadline = time.monotonic() + 120
        while first.poll() is None and time.monotonic() < deadline:
            if sidecar.exists():
                first.send_signal(signal.SIGSTOP)
                break
            time.sleep(0.001)
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        before = sorted(p.name for p in tmp_path.iterdir())

        second = subprocess.run(
            _cli(args), cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 1, second.stdout + second.stderr
        lock_file = cache_paths(out)["lock"]
        assert str(out) in second.stderr and str(lock_file) in second.stderr
        assert f"pid {first.pid} " in second.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == before
    finally:
        first.send_signal(signal.SIGCONT)
        status = first.wait(timeout=120)
    assert status == 0, (tmp_path / "first.log").read_text()
    assert len(_read_csv(out)) == 3
    assert json.loads(cache_paths(out)["sidecar"].read_text())["complete"]
    # Once the first is done, the lock is free again.
    with open(lock_file) as stream:
        fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)


@pytest.mark.slow
def test_torchrun_ranks_all_stop_when_the_cache_is_taken(
    teacher_folder, small_corpus, tmp_path
):
    out = tmp_path / "LABELS.csv"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "speechbrain_wav2small.cli",
        *_label_args(teacher_folder, out, "--audio-dir", small_corpus),
    ]
    # This test's own process holds the cache: both ranks must stop with
    # the message, not wait for each other.
    with cache_lock(out):
        taken = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=180
        )
    assert taken.returncode != 0
    assert f"pid {os.getpid()} " in taken.stderr
    assert not cache_paths(out)["sidecar"].exists()
    # A free cache under torchrun (rank 0 holds the lock, the other rank
    # never touches it): tests/test_labelling.py's two-process test.


def test_lock_is_reentrant_in_one_process_and_released(tmp_path):
    out = tmp_path / "LABELS.csv"
    lock_file = cache_paths(out)["lock"]
    # Another process tries the same flock on the lock file.
    probe = textwrap.dedent(
        f"""
        import fcntl
        with open({str(lock_file)!r}) as stream:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        """
    )

    def try_lock():
        """Whether another process gets the lock."""
        return subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, timeout=60
        )

    with cache_lock(out):
        with cache_lock(out):
            assert _holder_pid(lock_file) == os.getpid()
        # Still held by the outer one.
        held = try_lock()
        assert held.returncode != 0 and b"BlockingIOError" in held.stderr
    assert try_lock().returncode == 0
