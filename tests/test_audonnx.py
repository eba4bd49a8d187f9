"""audEERING's audonnx runs our export folders and packages.

A package (``package_model``, static int8, as a Wav2Small is packaged by
default) and an export folder (the two ONNX files ``export_onnx`` wrote
into it, alone in a folder) get their audonnx files; the real audonnx loads
them and must give what ``OnnxEmotionDimensions.predict_file`` gives for the
same WAV file, to 1e-5: clips of 0.1 s and 3 s of real speech, mono and
stereo, at 16, 8 and 44.1 kHz, and one of 60 s (stereo, 44.1 kHz, the
longest path through the transform), float and int8 graphs. One export
only: tracing a student to ONNX takes most of this file's time.
"""

import hashlib
import shutil

import audonnx
import numpy as np
import onnx
import pytest
import soundfile as sf
import torch
import yaml
from conftest import DATA, randomize_batch_norm

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.dataio.audio import read_audio, resample
from speechbrain_wav2small.dataio.reference_speech import (
    reference_speech_clips,
    reference_speech_files,
)
from speechbrain_wav2small.export import write_audonnx_files
from speechbrain_wav2small.inference.onnx_emotion import OnnxEmotionDimensions
from speechbrain_wav2small.packaging import package_model
from speechbrain_wav2small.students import build_student
from speechbrain_wav2small.utils.model_files import (
    AUDONNX_DEFAULT_YAML,
    AUDONNX_FILES,
    FLOAT_FILE,
    INT8_FILE,
    ONNX_FILES,
)

TOLERANCE = 1e-5
RATES = (16000, 8000, 44100)
#: (seconds, channels, rate) of each WAV file compared.
CASES = [
    (seconds, channels, rate)
    for seconds in (0.1, 3.0)
    for channels in (1, 2)
    for rate in RATES
] + [(60.0, 2, 44100)]
LONG = max(case[0] for case in CASES)
# Short gates, and a CCC floor an untrained student passes: these tests
# are about the files audonnx reads, not about the model's quality.
GATES = {"parity_seconds": (0.5,), "parity_batch_sizes": (1,), "min_ccc": 0.5}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A package and an export folder of one student, with audonnx files."""
    root = tmp_path_factory.mktemp("audonnx")
    torch.manual_seed(0)
    student = randomize_batch_norm(build_student("wav2small"))
    package = root / "package"
    report = package_model(
        student,
        "wav2small",
        package,
        held_out_wavs=reference_speech_clips(count=12),
        export_options=GATES,
    )
    assert report["export"]["quantization"] == "static"
    # What export_onnx writes: these two files and nothing else.
    export = root / "export"
    export.mkdir()
    for name in ONNX_FILES:
        shutil.copyfile(package / name, export / name)
    before = {
        folder: {name: _digest(folder / name) for name in ONNX_FILES}
        for folder in (export, package)
    }
    written = {
        folder: write_audonnx_files(folder) for folder in (export, package)
    }
    for folder in (export, package):
        # Our own files are left as they were.
        assert before[folder] == {
            name: _digest(folder / name) for name in ONNX_FILES
        }
    return {"export": export, "package": package, "written": written}


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory):
    """WAV files (float, so both readers see the very same samples), one
    per case, cut from real speech (tiled for the 60 s clip)."""
    root = tmp_path_factory.mktemp("audonnx_audio")
    recordings = [read_audio(path) for path in reference_speech_files()]
    recordings += [read_audio(path) for path in sorted(DATA.glob("ASR_*.wav"))]
    speech = np.concatenate(recordings)
    speech = np.tile(speech, int(np.ceil(61 * 16000 / len(speech))))
    files = {}
    for seconds, channels, rate in CASES:
        length = int(seconds * 16000)
        start = 8000  # inside the first utterance, not its silent start
        left = speech[start : start + length]
        right = 0.5 * speech[start + 16000 : start + 16000 + length]
        signal = [left, right][:channels]
        signal = np.stack([resample(c, 16000, rate) for c in signal], 1)
        path = root / f"{seconds}s_{channels}ch_{rate}.wav"
        sf.write(path, signal, rate, subtype="FLOAT")
        files[(seconds, channels, rate)] = path
    return files


def _digest(path):
    """SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_as_audeering(path):
    """A file as audonnx users pass it: [channels, time] float32 and rate
    (the layout audiofile.read gives)."""
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    return samples.T, rate


def test_layout_and_names(folders):
    """Names, shapes and labels as audonnx reports them; model.yaml is
    the int8 file's."""
    for folder in (folders["export"], folders["package"]):
        present = [name for name in ONNX_FILES if (folder / name).exists()]
        assert present == [INT8_FILE, FLOAT_FILE]
        expected = {AUDONNX_DEFAULT_YAML}
        for name in present:
            expected |= set(AUDONNX_FILES[name])
        assert set(folders["written"][folder]) == expected
        # audonnx.load(folder) reads the file OnnxEmotionDimensions takes.
        default = (folder / AUDONNX_DEFAULT_YAML).read_text()
        assert default == (folder / AUDONNX_FILES[INT8_FILE][1]).read_text()
        for name in present:
            graph_name, yaml_name = AUDONNX_FILES[name]
            graph = onnx.load(folder / graph_name).graph
            assert [value.name for value in graph.input] == ["wavs"]
            dims = graph.input[0].type.tensor_type.shape.dim
            assert dims[0].dim_value == 1 and dims[1].dim_param
            model = audonnx.load(folder, model_file=yaml_name)
            assert model.inputs["wavs"].shape == [1, -1]
            assert model.outputs["scores"].shape == [1, 3]
            assert model.outputs["embeddings"].shape == [1, 338]
            assert model.labels("scores") == list(DIMENSIONS)
            assert model.path == str(folder / graph_name)
    # The files derive from the ONNX files alone, reproducibly.
    for name in folders["written"][folders["package"]]:
        assert _digest(folders["export"] / name) == _digest(
            folders["package"] / name
        )


def test_yaml_is_what_audonnx_writes(folders):
    """Our YAML loads to what ``Model.to_yaml`` writes for the model."""
    for folder in (folders["export"], folders["package"]):
        for name in ONNX_FILES:
            yaml_name = AUDONNX_FILES[name][1]
            ours = yaml.safe_load((folder / yaml_name).read_text())
            model = audonnx.load(folder, model_file=yaml_name)
            rewritten = folder / "rewritten.yaml"
            model.to_yaml(str(rewritten), include_version=False)
            theirs = yaml.safe_load(rewritten.read_text())
            rewritten.unlink()
            assert ours == theirs


@pytest.mark.parametrize(
    "which, onnx_file, long",
    [
        ("package", INT8_FILE, True),
        ("package", FLOAT_FILE, True),
        # The export folder holds the package's graphs: the 60 s clip
        # would only repeat those comparisons.
        ("export", INT8_FILE, False),
        ("export", FLOAT_FILE, False),
    ],
)
def test_same_scores_as_ours(folders, audio_files, which, onnx_file, long):
    """audonnx on a file's samples == ``predict_file`` on the file."""
    folder = folders[which]
    int8 = onnx_file == INT8_FILE
    yaml_name = AUDONNX_FILES[onnx_file][1]
    model = audonnx.load(folder, model_file=yaml_name)
    ours = OnnxEmotionDimensions(folder, prefer_int8=int8)
    assert ours.path == str(folder / onnx_file)
    # One pass over the whole file, as audonnx runs it (predict_file
    # otherwise windows files longer than 30 s).
    ours.max_utterance_seconds = LONG + 1
    worst = {}
    for (seconds, channels, rate), path in audio_files.items():
        if seconds == LONG and not long:
            continue
        expected = ours.predict_file(path)
        signal, file_rate = _read_as_audeering(path)
        assert file_rate == rate and signal.shape[0] == channels
        got = model(signal, rate, outputs="scores")
        assert got.shape == (1, 3)
        named = dict(zip(model.labels("scores"), got[0].tolist(), strict=True))
        difference = max(abs(named[k] - expected[k]) for k in DIMENSIONS)
        worst[(seconds, channels, rate)] = difference
    print(f"\n{which} {onnx_file}: audonnx vs OnnxEmotionDimensions")
    for key, difference in worst.items():
        print("  %5.1f s %d ch %5d Hz: %.2e" % (*key, difference))
    assert max(worst.values()) <= TOLERANCE, worst


def test_transform_conventions(folders, audio_files):
    """No rate means the model's; 1-D is mono; [time, channels] fails."""
    audonnx_model = audonnx.load(folders["export"])

    def model(*args):
        """The scores (the embeddings follow the same transform)."""
        return audonnx_model(*args, outputs="scores")

    signal, rate = _read_as_audeering(audio_files[(3.0, 1, 16000)])
    # No sampling rate: the signal is at the model's rate already; a 1-D
    # signal is mono.
    np.testing.assert_array_equal(model(signal), model(signal, rate))
    np.testing.assert_array_equal(model(signal[0], rate), model(signal, rate))
    stereo, rate = _read_as_audeering(audio_files[(3.0, 2, 16000)])
    # soundfile's [time, channels] is refused rather than misread.
    with pytest.raises(ValueError, match=r"\[channels, time\]"):
        model(stereo.T, rate)


def test_refused_and_stale_files(folders, tmp_path):
    """No ONNX file is an error; files of a vanished int8 model go."""
    with pytest.raises(FileNotFoundError, match="model.int8.onnx or"):
        write_audonnx_files(tmp_path)
    # A folder whose int8 model is gone loses its int8 audonnx files, and
    # audonnx.load(folder) then reads the float model.
    folder = tmp_path / "float only"
    folder.mkdir()
    export = folders["export"]
    for name in (FLOAT_FILE, *AUDONNX_FILES[INT8_FILE]):
        (folder / name).write_bytes((export / name).read_bytes())
    written = write_audonnx_files(folder)
    assert set(written) == {*AUDONNX_FILES[FLOAT_FILE], AUDONNX_DEFAULT_YAML}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [FLOAT_FILE, *written]
    )
    model = audonnx.load(folder)
    assert model.path == str(folder / AUDONNX_FILES[FLOAT_FILE][0])
