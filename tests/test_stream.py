"""``wav2small stream``: live scores from standard input, a file or a
microphone, each window scored as ``predict_batch`` scores it.

The model is the packaged, fitted Wav2Small of the test session (its float
file, so that the figures compare to 1e-6); the speech is three real
16 kHz recordings of ``tests/data`` joined (8.74 s: 12 windows of 3 s at
a 0.5 s hop).
"""

import io
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA
from fitted_students import packaged_wav2small

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.cli import main
from speechbrain_wav2small.dataio.audio import read_audio, resample
from speechbrain_wav2small.inference.live import (
    LiveEmotion,
    SlidingWindow,
    file_blocks,
    pcm_blocks,
)
from speechbrain_wav2small.inference.onnx_emotion import OnnxEmotionDimensions

REPO = Path(__file__).resolve().parents[1]

#: What no path of the command may import.
HEAVY = {"torch", "speechbrain", "transformers", "timm", "torchaudio"}

# Runs the CLI as ``python -m`` does, then prints its exit status and the
# imported modules as the last line of standard output.
PROBE = textwrap.dedent(
    """
    import json, runpy, sys
    try:
        runpy.run_module(
            "speechbrain_wav2small.cli", run_name="__main__", alter_sys=True
        )
        status = None
    except SystemExit as stop:
        status = stop.code
    print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
    """
)


def run_cli(*argv, stdin=b""):
    """``python -m speechbrain_wav2small.cli ARGV`` in a fresh process,
    ``stdin`` piped in: its exit status, output lines, standard error and
    the packages of HEAVY it imported."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, argv)],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    *lines, last = completed.stdout.decode().splitlines()
    probe = json.loads(last)
    heavy = sorted({m.split(".")[0] for m in probe["modules"]} & HEAVY)
    return probe["status"], lines, completed.stderr.decode(), heavy


@pytest.fixture(scope="module")
def float_model():
    """The float ONNX file of the packaged Wav2Small."""
    built = packaged_wav2small()
    assert built["status"] == 0
    return built["package"] / "model.onnx"


@pytest.fixture(scope="module")
def speech():
    """8.74 s of real 16 kHz speech, float32, exactly 16-bit values."""
    clips = [
        sf.read(DATA / f"ASR_spk1_snt{i}.wav", dtype="int16")[0]
        for i in (1, 2, 3)
    ]
    return np.concatenate(clips).astype(np.float32) / 32768


def expected_scores(model_path, samples, window=3.0, hop=0.5):
    """(end seconds, predict_batch scores) of every full window."""
    model = OnnxEmotionDimensions(model_path)
    size, step = int(window * 16000), int(hop * 16000)
    ends = range(size, samples.shape[0] + 1, step)
    return [
        (end / 16000, model.predict_batch(samples[None, end - size : end])[0])
        for end in ends
    ]


def assert_matches(rows, expected, atol):
    """Rows (time, a, d, v) match the expected windows to ``atol``."""
    assert len(rows) == len(expected) > 0
    for row, (seconds, scores) in zip(rows, expected, strict=True):
        assert row[0] == pytest.approx(seconds, abs=1e-9)
        np.testing.assert_allclose(row[1:], scores, rtol=0, atol=atol)


def test_stdin_pcm_in_a_real_pipe_matches_predict_batch(
    float_model, speech, tmp_path
):
    """s16le PCM piped on standard input: one JSON line per hop, each the
    model's own scores of that window; torch is never imported."""
    pcm = np.round(speech * 32768).astype("<i2").tobytes()
    status, lines, err, heavy = run_cli(
        "stream", "-", "--model", float_model, "--jsonl", stdin=pcm
    )
    assert status == 0, err
    assert heavy == []
    records = [json.loads(line) for line in lines]
    rows = [[r["time"], *(r[d] for d in DIMENSIONS)] for r in records]
    assert_matches(rows, expected_scores(float_model, speech), atol=1e-6)


def test_file_at_16k_as_a_stream_prints_text_lines(
    float_model, speech, tmp_path, capsys
):
    """A 16 kHz file read block by block: "time a d v" lines (6 decimals,
    hence the 1e-6)."""
    path = tmp_path / "speech.wav"
    sf.write(path, speech, 16000, subtype="PCM_16")
    assert main(["stream", str(path), "--model", str(float_model)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [[float(v) for v in line.split()] for line in lines]
    assert all(len(row) == 4 for row in rows)
    assert_matches(rows, expected_scores(float_model, speech), atol=1e-6)


def test_file_at_44k_resampled_block_by_block(float_model, speech, tmp_path):
    """A 44.1 kHz file: each window is scored as predict_batch scores the
    same block-wise resampled samples (1e-6). soxr's streaming resampler
    carries its filter state across blocks, so those samples are the
    whole-file resampling's (bit-identical here; 1e-6 allowed, as soxr
    does not promise it for every block size), and so are the scores."""
    path = tmp_path / "speech 44k.wav"
    sf.write(path, resample(speech, 16000, 44100), 44100, subtype="FLOAT")
    streamed = np.concatenate(list(file_blocks(path, block_frames=1234)))
    whole = read_audio(path)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-6)

    live = LiveEmotion(OnnxEmotionDimensions(float_model))
    rows = []
    for block in file_blocks(path):
        rows += [[t, *s.values()] for t, s in live.feed(block)]
    assert_matches(rows, expected_scores(float_model, streamed), atol=1e-6)
    assert_matches(rows, expected_scores(float_model, whole), atol=1e-5)


def test_pcm_formats_channels_and_split_frames():
    """f32le stereo at 44.1 kHz, delivered in reads that cut frames, is
    mixed down and resampled as a whole-signal resample would be."""
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.5, 0.5, (44100, 2)).astype("<f4")

    class Trickle(io.BytesIO):
        """A pipe that returns 1001 bytes at a time (a frame is 8)."""

        def read1(self, size=-1):
            """At most 1001 bytes."""
            return self.read(min(size, 1001))

    blocks = pcm_blocks(
        Trickle(stereo.tobytes()), pcm_format="f32le", rate=44100, channels=2
    )
    mono = np.concatenate(list(blocks))
    expected = resample(stereo.mean(axis=1), 44100, 16000)
    assert mono.shape == expected.shape
    np.testing.assert_allclose(mono, expected, rtol=0, atol=1e-6)


def test_sliding_window_equals_slicing():
    """The ring's windows are the signal's slices, for any chunking, with
    and without --partial."""
    rng = np.random.default_rng(1)
    signal = rng.standard_normal(1000).astype(np.float32)
    for partial in (False, True):
        ring = SlidingWindow(window=100, hop=30, partial=partial)
        got, start = [], 0
        while start < signal.shape[0]:
            size = int(rng.integers(1, 250))
            got += list(ring.push(signal[start : start + size]))
            start += size
        first = 30 if partial else 100
        ends = list(range(first, 1001, 30))
        assert [end for end, _ in got] == ends
        for end, window in got:
            np.testing.assert_array_equal(
                window, signal[max(end - 100, 0) : end]
            )


class MeanModel:
    """A predictor that scores a window by its mean: the engine's memory,
    not onnxruntime's speed, is what 1200 windows measure."""

    sample_rate = 16000
    min_samples = None

    def predict_batch(self, wavs):
        """[1, 3]: the mean of the window, thrice."""
        return np.repeat(wavs.mean(axis=1, keepdims=True), 3, axis=1)


def test_memory_stays_constant_over_ten_minutes():
    """10 minutes fed in uneven chunks: the ring stays one window, and the
    Python heap does not grow from the first minute to the tenth."""
    live = LiveEmotion(MeanModel())
    rng = np.random.default_rng(2)
    chunk = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    fed, scored, grown = 0, 0, None
    tracemalloc.start()
    try:
        while fed < 600 * 16000:
            size = int(rng.integers(100, 16000))
            scored += sum(1 for _ in live.feed(chunk[:size]))
            fed += size
            if grown is None and fed >= 60 * 16000:
                baseline, _ = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                grown = 0
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scored == (fed - 48000) // 8000 + 1
    assert live.ring.buffer.shape == (48000,)
    # No per-window record is kept (1000+ windows would be > 64 KB).
    assert current - baseline < 64 * 1024
    # At most a chunk and a few copies of the 192 KB window at once.
    assert peak - baseline < 2 * 1024 * 1024


def test_mic_without_a_device_is_one_clear_error(float_model):
    """This machine has no sound card (and maybe no sounddevice): --mic
    ends with one error line, status 1, and never imports torch."""
    status, lines, err, heavy = run_cli(
        "stream", "--mic", "--model", float_model
    )
    assert status == 1 and lines == []
    assert err.startswith("error: no audio input device found (")
    assert len(err.strip().splitlines()) == 1
    try:
        import sounddevice  # noqa: F401
    except ImportError:
        assert "pip install sounddevice" in err
    except OSError:  # installed, without the PortAudio library
        assert "PortAudio" in err
    assert heavy == []


def test_short_stream_and_bad_options(float_model, speech, tmp_path, capsys):
    """A stream shorter than the window is an error (scored with
    --partial); unusable options stop with status 2."""
    path = tmp_path / "short.wav"
    sf.write(path, speech[:16000], 16000)
    model = ["--model", str(float_model)]
    assert main(["stream", str(path), *model]) == 1
    assert "before the first full window of 3.0 s" in capsys.readouterr().err
    assert main(["stream", str(path), *model, "--partial", "--jsonl"]) == 0
    times = [
        json.loads(x)["time"] for x in capsys.readouterr().out.splitlines()
    ]
    assert times == [0.5, 1.0]
    for argv in (
        [str(path), "--hop", "4"],
        [str(path), "--mic"],
        [],
        [str(path), "--window", "0"],
    ):
        assert main(["stream", *argv, *model]) == 2
        assert "wav2small stream: error:" in capsys.readouterr().err
    assert main(["stream", str(tmp_path / "missing.wav"), *model]) == 1
    assert "missing.wav" in capsys.readouterr().err
