"""Unusual and broken inputs, through both interfaces.

Every file is generated here from the real recording ASR_spk1_snt1.wav
(16 kHz, 16-bit): other encodings, channel counts and rates of the same
speech must give the same (or, when lossy, close) predictions; broken files
must raise an AudioError naming the file.
"""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from conftest import DATA
from fitted_students import packaged_wav2small

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.dataio.audio import AudioError, read_audio
from speechbrain_wav2small.inference import OnnxEmotionDimensions
from speechbrain_wav2small.inference.emotion import EmotionDimensions

SPEECH = DATA / "ASR_spk1_snt1.wav"


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
    samples, rate = sf.read(SPEECH, dtype="float32")
    return samples


def _scores(result):
    values = np.array([result[name] for name in DIMENSIONS])
    assert np.isfinite(values).all()
    return values


def _same_as_original(predictor, path, tolerance):
    reference = _scores(predictor.predict_file(SPEECH))
    got = _scores(predictor.predict_file(path))
    assert np.abs(got - reference).max() <= tolerance


def _raises_naming_file(predictor, path, reason):
    with pytest.raises(AudioError, match=reason) as caught:
        predictor.predict_file(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)


def test_missing_file(predictor, tmp_path):
    _raises_naming_file(predictor, tmp_path / "nowhere.wav", "does not exist")


def test_empty_file(predictor, tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    _raises_naming_file(predictor, path, "empty")


def test_zero_samples(predictor, tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    _raises_naming_file(predictor, path, "no samples")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_or_inf_samples(predictor, tmp_path, speech, value):
    path = tmp_path / "broken.wav"
    samples = speech.copy()
    samples[1234] = value
    sf.write(path, samples, 16000, subtype="FLOAT")
    _raises_naming_file(predictor, path, "NaN or Inf")


def test_truncated_header(predictor, tmp_path):
    path = tmp_path / "truncated.wav"
    path.write_bytes(SPEECH.read_bytes()[:30])
    _raises_naming_file(predictor, path, "not a readable audio file")


def test_not_audio(predictor, tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples\n" * 50)
    _raises_naming_file(predictor, path, "not a readable audio file")


@pytest.mark.parametrize("length", [1, 10, 63])
def test_shorter_than_one_window(predictor, tmp_path, speech, length):
    path = tmp_path / f"short_{length}.wav"
    sf.write(path, speech[5000 : 5000 + length], 16000, subtype="FLOAT")
    result = _scores(predictor.predict_file(path))
    batch = predictor.predict_batch(speech[None, 5000 : 5000 + length])
    assert np.allclose(result, np.asarray(batch)[0], atol=1e-6)


def test_digital_silence(predictor, tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(32000, np.int16), 16000, subtype="PCM_16")
    _scores(predictor.predict_file(path))
    _scores(predictor.predict_file(path, window=0.5))


@pytest.mark.parametrize(
    "subtype,extension",
    [
        ("PCM_16", "wav"),
        ("PCM_24", "wav"),
        ("FLOAT", "wav"),
        ("PCM_16", "flac"),
    ],
)
def test_lossless_encodings(predictor, tmp_path, speech, subtype, extension):
    path = tmp_path / f"speech.{extension}"
    sf.write(path, speech, 16000, subtype=subtype)
    _same_as_original(predictor, path, 1e-6)


def test_ogg_vorbis(predictor, tmp_path, speech):
    path = tmp_path / "speech.ogg"
    sf.write(path, speech, 16000, format="OGG", subtype="VORBIS")
    decoded = read_audio(path)
    assert abs(len(decoded) - len(speech)) <= 16
    n = min(len(decoded), len(speech))
    assert np.corrcoef(decoded[:n], speech[:n])[0, 1] > 0.9
    _scores(predictor.predict_file(path))


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel(predictor, tmp_path, speech, channels):
    path = tmp_path / f"speech_{channels}ch.wav"
    sf.write(path, np.stack([speech] * channels, axis=1), 16000, "PCM_16")
    _same_as_original(predictor, path, 1e-6)
    # One live channel among silent ones: the mix is the speech, quieter,
    # which the per-utterance normalisation undoes (but for its epsilon).
    mixed = np.zeros((len(speech), channels), np.float32)
    mixed[:, 0] = speech
    sf.write(path, mixed, 16000, subtype="FLOAT")
    _same_as_original(predictor, path, 5e-3)


@pytest.mark.parametrize(
    "rate,up,down", [(22050, 441, 320), (44100, 441, 160), (48000, 3, 1)]
)
def test_other_sample_rates(predictor, tmp_path, speech, rate, up, down):
    path = tmp_path / f"speech_{rate}.wav"
    sf.write(path, scipy.signal.resample_poly(speech, up, down), rate, "PCM_16")
    assert abs(len(read_audio(path)) - len(speech)) <= 1
    # Resampled up (scipy) and back (ours): only the band edge differs.
    _same_as_original(predictor, path, 0.1)


def test_8khz(predictor, tmp_path, speech):
    path = tmp_path / "speech_8k.wav"
    sf.write(path, scipy.signal.resample_poly(speech, 1, 2), 8000, "PCM_16")
    assert abs(len(read_audio(path)) - len(speech)) <= 2
    # Nothing above 4 kHz is left, so the prediction may move: only finite.
    _scores(predictor.predict_file(path))


def test_paths_with_spaces_and_non_ascii(predictor, tmp_path, speech):
    folder = tmp_path / "my clips" / "übung 音声"
    folder.mkdir(parents=True)
    path = folder / "ça va — 你好.wav"
    sf.write(path, speech, 16000, subtype="PCM_16")
    _same_as_original(predictor, path, 1e-6)
    assert predictor.predict_files([path, SPEECH])[0] == pytest.approx(
        predictor.predict_file(SPEECH)
    )


def test_one_hour_file_in_bounded_memory(package, tmp_path):
    # A subprocess, so the peak resident memory it reports is its own.
    script = textwrap.dedent(
        f"""
        import resource
        import numpy as np
        import soundfile as sf
        from speechbrain_wav2small.inference import OnnxEmotionDimensions

        speech, rate = sf.read({str(SPEECH)!r}, dtype="int16")
        minute = np.tile(speech, 21)[: 60 * rate]
        for name, minutes in (("short.wav", 2), ("hour.wav", 60)):
            # Written a minute at a time: the test holds no hour in memory.
            with sf.SoundFile({str(tmp_path)!r} + "/" + name, "w", rate, 1,
                              "PCM_16") as stream:
                for _ in range(minutes):
                    stream.write(minute)
        model = OnnxEmotionDimensions({str(package)!r}, prefer_int8=False)
        short = model.predict_file({str(tmp_path)!r} + "/short.wav")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        hour = model.predict_file({str(tmp_path)!r} + "/hour.wav")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert len(hour["windows"]) == 360, len(hour["windows"])
        assert hour["windows"][-1]["end"] == 3600.0
        assert np.isfinite([hour[k] for k in ("arousal", "valence")]).all()
        # The same minute repeated: the hour's summary is the short file's.
        assert abs(hour["valence"] - short["valence"]) < 1e-3
        print((after - before) // 1024)
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        completed = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=root,
            env={**os.environ, "PYTHONPATH": root},
            timeout=300,
        )
    finally:
        # 115 MB: do not leave it in pytest's kept temporary folders.
        (tmp_path / "hour.wav").unlink(missing_ok=True)
    assert completed.returncode == 0, completed.stderr
    growth_mb = int(completed.stdout.strip().splitlines()[-1])
    print(f"peak memory growth over a one-hour file: {growth_mb} MB")
    # The hour as float32 alone would be 230 MB (and GBs of activations).
    assert growth_mb < 40


def _with_nan(value, row=1):
    wavs = np.zeros((2, 800), np.float32)
    wavs[row, 400] = value
    return wavs


#: Batches neither interface may run, and what both say about them.
BAD_BATCHES = {
    "3-D": (
        np.zeros((2, 1, 800)),
        None,
        "wavs must be [batch, time] or [time] (mono), got shape (2, 1, 800)",
    ),
    "no clips": (
        np.zeros((0, 800)),
        None,
        "wavs is an empty batch (shape (0, 800))",
    ),
    "no samples": (
        np.zeros((2, 0)),
        None,
        "wavs has no samples (shape (2, 0))",
    ),
    "NaN sample": (
        _with_nan(math.nan),
        None,
        "wavs contains NaN or Inf samples (clip 1)",
    ),
    "Inf sample": (
        _with_nan(-math.inf, row=0),
        [1.0, 1.0],
        "wavs contains NaN or Inf samples (clip 0)",
    ),
    "too few lengths": (
        np.zeros((2, 800)),
        [1.0],
        "wav_lens must hold one relative length per clip (2), got shape (1,)",
    ),
    "too many lengths": (
        np.zeros((2, 800)),
        [1.0, 1.0, 1.0],
        "wav_lens must hold one relative length per clip (2), got shape (3,)",
    ),
    "2-D lengths": (
        np.zeros((2, 800)),
        [[1.0, 1.0]],
        "wav_lens must hold one relative length per clip (2), got shape (1, 2)",
    ),
    "negative length": (
        np.zeros((2, 800)),
        [1.0, -0.5],
        "wav_lens must be relative lengths in (0, 1], got -0.5 for clip 1",
    ),
    "zero length": (
        np.zeros((2, 800)),
        [0.0, 1.0],
        "wav_lens must be relative lengths in (0, 1], got 0 for clip 0",
    ),
    "NaN length": (
        np.zeros((2, 800)),
        [math.nan, math.nan],
        "wav_lens must be relative lengths in (0, 1], got nan, nan for "
        "clips 0, 1",
    ),
    "length above 1": (
        np.zeros((2, 800)),
        [1.5, 1.0],
        "wav_lens must be relative lengths in (0, 1], got 1.5 for clip 0",
    ),
    "length under one sample": (
        np.zeros((2, 800)),
        [1.0, 0.0005],
        "wav_lens leaves clip 1 without a sample (relative length 0.0005 "
        "of 800 samples)",
    ),
}


@pytest.mark.parametrize("method", ["predict_batch", "embed_batch"])
@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_batches_are_refused_alike_by_both_interfaces(
    predictor, method, case
):
    wavs, wav_lens, message = BAD_BATCHES[case]
    if isinstance(predictor, EmotionDimensions):
        import torch

        # Each interface in its own currency: tensors for PyTorch.
        wavs = torch.as_tensor(wavs, dtype=torch.float32)
        if wav_lens is not None:
            wav_lens = torch.tensor(wav_lens)
    with pytest.raises(ValueError) as error:
        getattr(predictor, method)(wavs, wav_lens)
    assert str(error.value) == message
    # A good batch of the same shape goes through.
    good = getattr(predictor, method)(np.zeros((2, 800), np.float32))
    assert np.isfinite(np.asarray(good)).all()
