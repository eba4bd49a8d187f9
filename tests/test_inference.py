"""EmotionDimensions (PyTorch) and OnnxEmotionDimensions (onnxruntime)."""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA, pad_batch
from fitted_students import packaged_wav2small
from speechbrain.utils.fetching import FetchConfig

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.dataio.audio import read_audio
from speechbrain_wav2small.inference import OnnxEmotionDimensions
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.inference.file_prediction import (
    duration_weighted_mean,
    window_bounds,
)

SPEECH = DATA / "ASR_spk1_snt1.wav"
LONG_SPEECH = DATA / "TTS_LJ050-0131.wav"  # 7.7 s at 22.05 kHz


@pytest.fixture(scope="module")
def packaged():
    built = packaged_wav2small()
    assert built["status"] == 0
    return built


@pytest.fixture(scope="module")
def predictor(packaged, tmp_path_factory):
    return EmotionDimensions.from_hparams(
        source=str(packaged["package"]),
        savedir=str(tmp_path_factory.mktemp("savedir")),
    )


def _reference(model, samples):
    with torch.no_grad():
        return model(torch.from_numpy(samples)[None])[0].numpy()


def test_from_hparams_offline_on_cpu(predictor):
    assert predictor.device == "cpu"
    assert predictor.sample_rate == 16000
    assert not predictor.mods.model.training


def test_predict_batch_padded_equals_single(predictor, speech_clips):
    wavs, lens = pad_batch(speech_clips)
    scores = predictor.predict_batch(wavs, lens)
    assert scores.shape == (3, 3) and scores.dtype == torch.float32
    for row, clip in enumerate(speech_clips):
        alone = predictor.predict_batch(clip)
        assert torch.allclose(scores[row], alone[0], atol=1e-5)
    assert torch.equal(predictor(wavs, lens), scores)


def test_predict_file_equals_checkpoint(predictor, packaged):
    result = predictor.predict_file(SPEECH)
    assert list(result) == list(DIMENSIONS)
    assert all(isinstance(value, float) for value in result.values())
    expected = _reference(packaged["model"], read_audio(SPEECH))
    assert np.allclose([result[d] for d in DIMENSIONS], expected, atol=1e-6)


def test_windows_timestamps_and_summary(predictor, packaged):
    result = predictor.predict_file(LONG_SPEECH, window=3.0, hop=2.0)
    windows = result["windows"]
    duration = sf.info(LONG_SPEECH).duration
    assert [(w["start"], w["end"]) for w in windows] == window_bounds(
        duration, 3.0, 2.0
    )
    assert windows[-1]["end"] == pytest.approx(duration, abs=1e-6)
    # Each window is the model on that stretch of the file.
    second = windows[1]
    samples = read_audio(LONG_SPEECH, 16000, second["start"], second["end"])
    expected = _reference(packaged["model"], samples)
    assert np.allclose([second[d] for d in DIMENSIONS], expected, atol=1e-5)
    summary = duration_weighted_mean(windows)
    assert all(result[d] == pytest.approx(summary[d]) for d in DIMENSIONS)
    weights = np.array([w["end"] - w["start"] for w in windows])
    arousal = np.array([w["arousal"] for w in windows])
    assert result["arousal"] == pytest.approx(
        float((weights * arousal).sum() / weights.sum())
    )


def test_predict_files_matches_predict_file(predictor):
    paths = [SPEECH, DATA / "ASR_spk2_snt1.wav", LONG_SPEECH]
    results = predictor.predict_files(paths)
    assert len(results) == 3
    for path, result in zip(paths, results, strict=True):
        single = predictor.predict_file(path)
        assert all(
            result[d] == pytest.approx(single[d], abs=1e-5) for d in DIMENSIONS
        )


def test_long_files_are_windowed_automatically(predictor, tmp_path):
    noise = DATA / "noise_noise1.wav"  # 33 s, longer than 30 s
    result = predictor.predict_file(noise)
    assert [(w["start"], w["end"]) for w in result["windows"]][:2] == [
        (0.0, 10.0),
        (10.0, 20.0),
    ]


def test_hub_id_loads_through_speechbrain_fetching(packaged, tmp_path):
    # The model hub's own cache layout, filled with the packaged folder:
    # the real hub-id path (SpeechBrain fetch -> huggingface_hub), offline.
    repo = tmp_path / "hub" / "models--someone--wav2small-test"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(packaged["package"], repo / "snapshots" / revision)
    loaded = EmotionDimensions.from_hparams(
        source="someone/wav2small-test",
        savedir=str(tmp_path / "savedir"),
        fetch_config=FetchConfig(
            allow_network=False, huggingface_cache_dir=str(tmp_path / "hub")
        ),
    )
    expected = _reference(packaged["model"], read_audio(SPEECH))
    result = loaded.predict_file(SPEECH)
    assert np.allclose([result[d] for d in DIMENSIONS], expected, atol=1e-6)
    with pytest.raises(FileNotFoundError) as missing:
        EmotionDimensions.from_hparams(
            source="someone/not-uploaded",
            savedir=str(tmp_path / "savedir2"),
            fetch_config=FetchConfig(
                allow_network=False,
                huggingface_cache_dir=str(tmp_path / "hub"),
            ),
        )
    assert "does not exist" not in str(missing.value)  # the hub's error


def test_missing_local_source_is_not_sent_to_the_hub(tmp_path):
    for source in (str(tmp_path / "missing"), "./missing", "a/b/c"):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            EmotionDimensions.from_hparams(source=source)


def test_onnx_interface_same_api(packaged, predictor):
    folder = packaged["package"]
    onnx_float = OnnxEmotionDimensions(folder, prefer_int8=False)
    onnx_int8 = OnnxEmotionDimensions(folder)
    assert onnx_int8.path.endswith("model.int8.onnx")
    assert onnx_float.path.endswith("model.onnx")
    torch_result = predictor.predict_file(SPEECH)
    float_result = onnx_float.predict_file(SPEECH)
    int8_result = onnx_int8.predict_file(SPEECH)
    for name in DIMENSIONS:
        assert float_result[name] == pytest.approx(torch_result[name], abs=1e-4)
        assert int8_result[name] == pytest.approx(torch_result[name], abs=0.05)
    batch = onnx_float.predict_batch(np.zeros((2, 800), np.float32))
    assert batch.shape == (2, 3) and batch.dtype == np.float32
    windowed = onnx_float.predict_file(LONG_SPEECH, window=3.0, hop=2.0)
    reference = predictor.predict_file(LONG_SPEECH, window=3.0, hop=2.0)
    assert len(windowed["windows"]) == len(reference["windows"])
    assert windowed["valence"] == pytest.approx(reference["valence"], abs=1e-4)


def test_onnx_interface_runs_without_torch(packaged):
    script = textwrap.dedent(
        f"""
        import sys

        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")

        sys.meta_path.insert(0, NoTorch())
        try:
            import torch
        except ImportError:
            pass
        else:
            raise SystemExit("torch was importable")
        from speechbrain_wav2small.inference import OnnxEmotionDimensions
        model = OnnxEmotionDimensions({str(packaged["package"])!r})
        result = model.predict_file({str(SPEECH)!r}, window=1.0)
        assert set(result) == {{"arousal", "dominance", "valence", "windows"}}
        print(sorted(m for m in sys.modules if m.split(".")[0] == "torch"))
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_streaming_a_packaged_model_as_the_readme_shows(predictor):
    from speechbrain_wav2small.inference.streaming import StreamingWav2Small

    stream = StreamingWav2Small(predictor.mods.model, chunk_seconds=0.5)
    streamed = stream.predict_file(SPEECH)
    whole = predictor.predict_file(SPEECH)
    for index, name in enumerate(DIMENSIONS):
        assert float(streamed[index]) == pytest.approx(whole[name], abs=1e-4)
