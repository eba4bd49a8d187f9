"""The Python snippets of README.md run as written, on a packaged model.

Each ```python block is run in order in one namespace (the streaming block
uses the model the previous block loaded), with the README's placeholder
paths replaced by a real package and real speech.
"""

import re
from pathlib import Path

import pytest
from conftest import DATA, pad_batch, read_speech
from fitted_students import packaged_wav2small

from speechbrain_wav2small import DIMENSIONS

README = Path(__file__).resolve().parents[1] / "README.md"
SPEECH = DATA / "ASR_spk1_snt1.wav"
LONG_SPEECH = DATA / "TTS_LJ050-0131.wav"


def python_blocks(path):
    """The ```python blocks of a Markdown file, in order."""
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def test_readme_has_the_snippets_this_test_runs():
    blocks = python_blocks(README)
    assert len(blocks) == 6
    assert "build_student" in blocks[0]
    assert "EmotionDimensions.from_hparams" in blocks[1]
    assert "StreamingWav2Small" in blocks[2]
    assert "OnnxEmotionDimensions" in blocks[3]
    assert "embed_file" in blocks[4]
    assert "audonnx.load" in blocks[5]


@pytest.mark.slow
def test_readme_python_snippets_run(tmp_path, monkeypatch):
    built = packaged_wav2small()
    assert built["status"] == 0
    placeholders = {
        "path/to/package": str(built["package"]),
        "speech.flac": str(SPEECH),
        "speech.wav": str(SPEECH),
        "podcast.wav": str(LONG_SPEECH),
        "day-long-recording.wav": str(SPEECH),
    }
    # SpeechBrain links a package's files into a savedir under the working
    # folder; keep that out of the repository.
    monkeypatch.chdir(tmp_path)
    wavs, lengths = pad_batch([read_speech("ASR_spk1_snt1.wav")] * 2)
    namespace = {"wavs": wavs, "lengths": lengths}
    models = []
    for block in python_blocks(README):
        for placeholder, real in placeholders.items():
            block = block.replace(f'"{placeholder}"', repr(real))
        assert "path/to" not in block, block
        exec(compile(block, "README.md", "exec"), namespace)
        models.append(namespace["model"])
    assert namespace["scores"].shape == (2, 3)
    student, pretrained, _, onnx_model, _, audonnx_model = models
    assert namespace["features"].shape == (2, 338)
    assert set(pretrained.predict_file(str(SPEECH))) == set(DIMENSIONS)
    streamed = namespace["stream"].predict_file(str(SPEECH))
    whole = pretrained.predict_file(str(SPEECH))
    assert streamed.tolist() == pytest.approx(
        [whole[name] for name in DIMENSIONS], abs=1e-4
    )
    from_onnx = onnx_model.predict_file(str(SPEECH))
    assert set(from_onnx) == set(DIMENSIONS)
    # audEERING's audonnx, on the same file, gives the same three numbers.
    assert audonnx_model.labels("scores") == list(DIMENSIONS)
    assert namespace["model"] is audonnx_model
    scores = audonnx_model(*_audonnx_input(), outputs="scores")
    assert scores[0].tolist() == pytest.approx(
        [from_onnx[name] for name in DIMENSIONS], abs=1e-5
    )


def _audonnx_input():
    """The README's audonnx input: ``[channels, time]`` and the rate."""
    import soundfile

    signal, rate = soundfile.read(SPEECH, dtype="float32", always_2d=True)
    return signal.T, rate
