"""Embeddings: the pooled features each student's head reads, everywhere.

The lobes (``embed``, and ``forward`` as ``head(embed(...))``), both
inference interfaces (``embed_batch``, ``embed_file``), the exported ONNX
files (a second output, ``embeddings``), audEERING's audonnx on a package,
and ``wav2small predict --embeddings``. The packaged Wav2Small of
``fitted_students`` (built once per session) holds the ONNX files.
"""

import csv
import json

import audonnx
import numpy as np
import onnx
import pytest
import soundfile as sf
import torch
from conftest import DATA, pad_batch, randomize_batch_norm
from fitted_students import packaged_wav2small

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.cli import main
from speechbrain_wav2small.cli.predict import COLUMNS
from speechbrain_wav2small.dataio.audio import read_audio
from speechbrain_wav2small.dataio.reference_speech import (
    reference_speech_clips,
)
from speechbrain_wav2small.export import (
    OnnxStudent,
    export_onnx,
    write_audonnx_files,
)
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.inference.file_prediction import window_bounds
from speechbrain_wav2small.inference.onnx_emotion import OnnxEmotionDimensions
from speechbrain_wav2small.lobes.fast_wav2small import FastWav2Small
from speechbrain_wav2small.students import build_student, has_embeddings
from speechbrain_wav2small.utils.model_files import (
    AUDONNX_DEFAULT_YAML,
    EMBEDDINGS_OUTPUT,
    FLOAT_FILE,
    INT8_FILE,
    OUTPUT_NAME,
    embedding_names,
)

SPEECH = DATA / "ASR_spk1_snt1.wav"
LONG_SPEECH = DATA / "TTS_LJ050-0131.wav"  # 7.7 s at 22.05 kHz
#: Features of each student's embeddings: Wav2Small's second-order
#: statistics (channels x (pooled mels + channels)), timm's pre-logits.
SIZES = {
    "wav2small": 13 * (13 + 13),
    "wav2small_72k": 34 * (13 + 34),
    "mobilenetv4_conv_small": 1280,
    "mobilenetv4_conv_medium": 1280,
    "mobilenetv3_small": 1024,
    "mobilenetv3_large": 1280,
}
#: PyTorch vs float ONNX, relative to the embeddings' largest magnitude
#: (at least 1): the float32 rounding of two runtimes.
TOLERANCE = 1e-5


def _close(got, expected, tolerance=TOLERANCE):
    """Largest difference relative to the largest magnitude (>= 1)."""
    got, expected = np.asarray(got), np.asarray(expected)
    scale = max(1.0, float(np.abs(expected).max()))
    difference = float(np.abs(got - expected).max()) / scale
    assert difference <= tolerance, difference
    return difference


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


@pytest.fixture(scope="module")
def onnx_float(packaged):
    return OnnxEmotionDimensions(packaged["package"], prefer_int8=False)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_forward_is_the_head_on_the_embeddings(name, speech_clips):
    model = randomize_batch_norm(build_student(name)).eval()
    assert has_embeddings(model)
    clips = [clip[:12000] for clip in speech_clips[:2]]
    clips[1] = clips[1][:9000]
    wavs, lengths = pad_batch(clips)
    with torch.no_grad():
        embeddings = model.embed(wavs, lengths)
        assert embeddings.shape == (2, SIZES[name])
        assert model.head.in_features == SIZES[name]
        assert torch.equal(model.head(embeddings), model(wavs, lengths))
        # A padded row embeds as the clip alone does.
        alone = model.embed(clips[1][None])
    assert (embeddings[1] - alone[0]).abs().max() <= 1e-4 * max(
        1.0, float(alone.abs().max())
    )


def test_fast_form_and_export_wrapper_give_the_same_embeddings(speech_clips):
    model = randomize_batch_norm(build_student("wav2small")).eval()
    wavs, lengths = pad_batch(speech_clips)
    with torch.no_grad():
        expected = model.embed(wavs, lengths)
        fast = FastWav2Small(model)
        _close(fast.embed(wavs, lengths), expected)
        assert torch.equal(fast.head(fast.embed(wavs)), fast(wavs))
        wrapper = OnnxStudent(model).eval()
        assert wrapper.output_names == (OUTPUT_NAME, EMBEDDINGS_OUTPUT)
        scores, embeddings = wrapper(wavs, lengths)
    assert torch.equal(embeddings, expected)
    assert torch.equal(scores, model.head(expected))


def test_a_student_without_embed_exports_scores_only(tmp_path):
    class ScoresOnly(torch.nn.Module):
        """A student of one's own honouring ``forward`` alone."""

        def __init__(self):
            super().__init__()
            self.front_end = build_student("wav2small").front_end
            self.head = torch.nn.Linear(26, 3)

        def forward(self, wavs, lengths=None):
            return self.head(self.front_end(wavs, lengths)[0].mean(1))

    student = ScoresOnly()
    assert not has_embeddings(student)
    wrapper = OnnxStudent(student).eval()
    assert wrapper.output_names == (OUTPUT_NAME,)
    (scores,) = wrapper(torch.randn(2, 800), torch.ones(2))
    assert scores.shape == (2, 3)
    export_onnx(
        student,
        tmp_path,
        "scores only",
        quantization="none",
        parity_seconds=(0.5,),
        held_out_wavs=reference_speech_clips(count=8),
    )
    reader = OnnxEmotionDimensions(tmp_path)
    assert reader.predict_batch(np.zeros((1, 800), np.float32)).shape == (1, 3)
    with pytest.raises(ValueError, match="re-export"):
        reader.embed_batch(np.zeros((1, 800), np.float32))


def test_onnx_files_have_the_embeddings_after_the_scores(packaged):
    for name in (FLOAT_FILE, INT8_FILE):
        graph = onnx.load(packaged["package"] / name).graph
        outputs = [
            (v.name, [d.dim_value or d.dim_param for d in shape.dim])
            for v in graph.output
            for shape in [v.type.tensor_type.shape]
        ]
        assert outputs == [
            (OUTPUT_NAME, ["batch", 3]),
            (EMBEDDINGS_OUTPUT, ["batch", SIZES["wav2small"]]),
        ]
    report = json.loads((packaged["package"] / "export.json").read_text())
    # The float gate checked the embeddings too.
    assert report["parity"]["embeddings_max_diff"] <= 1e-4


def test_pytorch_and_float_onnx_embeddings_agree(
    packaged, predictor, onnx_float, speech_clips
):
    wavs, lengths = pad_batch(speech_clips)
    ours = predictor.embed_batch(wavs, lengths)
    assert ours.shape == (3, 338) and ours.dtype == torch.float32
    with torch.no_grad():
        expected = packaged["model"].embed(wavs, lengths)
    assert torch.equal(ours, expected)
    # The ONNX file runs the masked path for this padded batch, and the
    # unmasked one for each clip alone.
    _close(onnx_float.embed_batch(wavs.numpy(), lengths.numpy()), ours)
    for row, clip in enumerate(speech_clips):
        alone = onnx_float.embed_batch(clip.numpy())
        assert alone.shape == (1, 338) and alone.dtype == np.float32
        _close(alone[0], ours[row])
    _close(
        onnx_float.embed_file(SPEECH)["embedding"],
        predictor.embed_file(SPEECH)["embedding"],
    )
    # The int8 file gives embeddings of its own, of the same size.
    int8 = OnnxEmotionDimensions(packaged["package"])
    assert int8.path.endswith(INT8_FILE)
    assert int8.embedding_size == onnx_float.embedding_size == 338
    assert predictor.embedding_size == 338
    embedding = int8.embed_file(SPEECH)["embedding"]
    assert embedding.shape == (338,) and np.isfinite(embedding).all()


def test_embed_file_windows_as_predict_file_lists_them(
    packaged, predictor, onnx_float
):
    result = predictor.embed_file(LONG_SPEECH, window=3.0, hop=2.0)
    scores = predictor.predict_file(LONG_SPEECH, window=3.0, hop=2.0)
    assert set(result) == {"embedding", "windows"}
    windows = result["windows"]
    duration = sf.info(LONG_SPEECH).duration
    bounds = [(w["start"], w["end"]) for w in windows]
    assert bounds == window_bounds(duration, 3.0, 2.0)
    assert bounds == [(w["start"], w["end"]) for w in scores["windows"]]
    assert all(set(w) == {"start", "end", "embedding"} for w in windows)
    # Each window is the model on that stretch of the file, and the head
    # on its embedding is that window's scores.
    second = windows[1]
    samples = read_audio(LONG_SPEECH, 16000, second["start"], second["end"])
    model = packaged["model"]
    with torch.no_grad():
        expected = model.embed(torch.from_numpy(samples)[None])[0]
        head = model.head(torch.from_numpy(second["embedding"]).float())
    _close(second["embedding"], expected.numpy())
    assert np.allclose(
        head.numpy(), [scores["windows"][1][d] for d in DIMENSIONS], atol=1e-5
    )
    # The file's embedding: the duration-weighted mean, as for the scores.
    weights = np.array([end - start for start, end in bounds])
    stacked = np.stack([w["embedding"] for w in windows])
    assert np.allclose(
        result["embedding"], weights @ stacked / weights.sum(), atol=1e-12
    )
    # One pass for both: the same numbers as each call alone.
    both = predictor.predict_file(
        LONG_SPEECH, window=3.0, hop=2.0, embeddings=True
    )
    assert all(
        both[d] == pytest.approx(scores[d], abs=1e-6) for d in DIMENSIONS
    )
    assert np.allclose(both["embedding"], result["embedding"], atol=1e-6)
    assert set(both["windows"][0]) == {"start", "end", "embedding", *DIMENSIONS}
    # The ONNX interface lists the same windows, with the same embeddings.
    from_onnx = onnx_float.embed_file(LONG_SPEECH, window=3.0, hop=2.0)
    assert [(w["start"], w["end"]) for w in from_onnx["windows"]] == bounds
    _close(from_onnx["embedding"], result["embedding"])


def test_audonnx_returns_the_embeddings_too(packaged):
    folder = packaged["package"]
    # The very samples our reader gives (tests/test_audonnx.py checks the
    # transform): static int8 embeddings move with the last bit of input.
    signal = read_audio(LONG_SPEECH)[None]
    for yaml_name, int8 in (
        (AUDONNX_DEFAULT_YAML, True),
        ("audonnx.yaml", False),
    ):
        model = audonnx.load(folder, model_file=yaml_name)
        assert list(model.outputs) == [OUTPUT_NAME, EMBEDDINGS_OUTPUT]
        assert model.outputs[EMBEDDINGS_OUTPUT].shape == [1, 338]
        assert model.labels(OUTPUT_NAME) == list(DIMENSIONS)
        assert model.labels(EMBEDDINGS_OUTPUT) == embedding_names(338)
        outputs = model(signal, 16000)
        assert set(outputs) == {OUTPUT_NAME, EMBEDDINGS_OUTPUT}
        assert outputs[EMBEDDINGS_OUTPUT].shape == (1, 338)
        ours = OnnxEmotionDimensions(folder, prefer_int8=int8)
        _close(outputs[EMBEDDINGS_OUTPUT], ours.embed_batch(signal))
        scores = model(signal, 16000, outputs=OUTPUT_NAME)
        np.testing.assert_array_equal(scores, outputs[OUTPUT_NAME])


def test_older_exports_still_predict_and_say_to_re_export(
    packaged, tmp_path, capsys
):
    """A file without the embeddings output (as exported before they were
    added) predicts as before; asking it for embeddings is a clear error."""
    model = onnx.load(packaged["package"] / FLOAT_FILE)
    del model.graph.output[1]
    older = tmp_path / "older"
    older.mkdir()
    onnx.save(model, older / FLOAT_FILE)
    reader = OnnxEmotionDimensions(older)
    expected = OnnxEmotionDimensions(packaged["package"], prefer_int8=False)
    result = reader.predict_file(SPEECH)
    assert result == pytest.approx(expected.predict_file(SPEECH), abs=1e-6)
    for call in (
        lambda: reader.embed_file(SPEECH),
        lambda: reader.embed_batch(np.zeros(1600, np.float32)),
        lambda: reader.predict_file(SPEECH, embeddings=True),
    ):
        with pytest.raises(ValueError, match="re-export") as error:
            call()
        assert str(older / FLOAT_FILE) in str(error.value)
    # audonnx still gets its files, with the scores alone.
    write_audonnx_files(older)
    assert list(audonnx.load(older).outputs) == [OUTPUT_NAME]
    status = main(
        ["predict", str(SPEECH), "--model", str(older), "--embeddings"]
    )
    assert status == 1
    assert "re-export" in capsys.readouterr().err


def _read_csv(path):
    with open(path, encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_predict_cli_embeddings_csv_and_json(
    packaged, predictor, onnx_float, tmp_path, backend
):
    package = str(packaged["package"])
    options = ["--model", package, "--backend", backend, "--quiet"]
    missing = str(tmp_path / "missing.wav")
    out = tmp_path / "rows.csv"
    status = main(
        ["predict", str(SPEECH), missing, *options, "--embeddings"]
        + ["--out", str(out)]
    )
    assert status == 0
    rows = _read_csv(out)
    names = embedding_names(338)
    assert tuple(rows[0]) == COLUMNS + tuple(names)
    # The int8 file is what the ONNX backend reads from a package.
    reference = (
        predictor if backend == "torch" else OnnxEmotionDimensions(package)
    )
    expected = reference.embed_file(SPEECH)["embedding"]
    got = [float(rows[0][name]) for name in names]
    assert np.allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert rows[1]["error"] and all(rows[1][name] == "" for name in names)
    # JSON, windows: every row holds its embedding as a list.
    out = tmp_path / "rows.json"
    status = main(
        ["predict", str(LONG_SPEECH), missing, *options, "--embeddings"]
        + ["--window", "3", "--hop", "2", "--out", str(out)]
    )
    assert status == 0
    rows = json.loads(out.read_text())
    assert [row["level"] for row in rows] == ["file"] + ["window"] * 4 + [
        "file"
    ]
    windowed = reference.embed_file(LONG_SPEECH, window=3.0, hop=2.0)
    expected = [windowed["embedding"]] + [
        w["embedding"] for w in windowed["windows"]
    ]
    for row, embedding in zip(rows[:5], expected, strict=True):
        assert len(row["embedding"]) == 338
        assert np.allclose(row["embedding"], embedding, rtol=1e-6, atol=1e-6)
    assert rows[-1]["embedding"] is None and rows[-1]["error"]
    # Without the option the rows are as before.
    out = tmp_path / "plain.json"
    assert main(["predict", str(SPEECH), *options, "--out", str(out)]) == 0
    assert list(json.loads(out.read_text())[0]) == list(COLUMNS)
