"""Import of the authors' Wav2Small, against an independent implementation.

``AuthorsWav2Small`` below re-implements the authors' released model from
its published description, in their style and with their module names (so
its state_dict has their key layout): a torchlibrosa-like spectrogram with
``conv_real`` / ``conv_imag`` DFT convolutions, a ``LogmelFilterBank``
holding ``melW`` (librosa's Slaney filterbank, written here in numpy) and
``amin``, seven conv blocks with a max pool after the third, attention
pooling ``lin(x) * sof(x).softmax(time)`` summed over time, the pooled
matrix concatenated with its Gram matrix, and the ``adv`` head. It shares
no code with the package.
"""

import json

import numpy as np
import pytest
import torch
from conftest import DATA
from fitted_students import fit_student, held_out_clips, speech_crops
from safetensors.torch import save_file
from torch import nn

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.cli import main
from speechbrain_wav2small.dataio.audio import read_audio
from speechbrain_wav2small.dataio.reference_speech import (
    reference_speech_clips,
)
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.inference.onnx_emotion import OnnxEmotionDimensions
from speechbrain_wav2small.packaging.audeering import (
    CheckpointLayoutError,
    load_audeering,
)

SPEECH = ("ASR_spk1_snt1.wav", "ASR_spk2_snt1.wav", "TTS_LJ050-0131.wav")


def slaney_mel_numpy(sr, n_fft, n_mels, fmin, fmax):
    """librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) (Slaney), [M, F]."""

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        mel = f / (200.0 / 3)
        log_region = f >= 1000.0
        mel = np.where(
            log_region,
            15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0),
            mel,
        )
        return mel

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(
            m >= 15.0,
            1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)),
            m * (200.0 / 3),
        )

    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


class Spectrogram(nn.Module):
    def __init__(self, n_fft=64, hop_length=32):
        super().__init__()
        n = np.arange(n_fft)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann
        dft = np.exp(
            -2j * np.pi * np.outer(np.arange(n_fft // 2 + 1), n) / n_fft
        )
        self.conv_real = nn.Conv1d(
            1, n_fft // 2 + 1, n_fft, hop_length, bias=False
        )
        self.conv_imag = nn.Conv1d(
            1, n_fft // 2 + 1, n_fft, hop_length, bias=False
        )
        self.conv_real.weight.data = torch.tensor(
            (dft.real * window)[:, None, :], dtype=torch.float32
        )
        self.conv_imag.weight.data = torch.tensor(
            (dft.imag * window)[:, None, :], dtype=torch.float32
        )

    def forward(self, x):
        x = x[:, None, :]
        power = self.conv_real(x) ** 2 + self.conv_imag(x) ** 2
        return power.transpose(1, 2)[:, None, :, :]  # (batch, 1, time, freq)


class LogmelFilterBank(nn.Module):
    def __init__(self, sr=16000, n_fft=64, n_mels=26):
        super().__init__()
        mel = slaney_mel_numpy(sr, n_fft, n_mels, 0.0, sr / 2).T
        self.melW = nn.Parameter(torch.tensor(mel, dtype=torch.float32))
        self.amin = nn.Parameter(torch.tensor(1e-10), requires_grad=False)

    def forward(self, x):
        mel = torch.matmul(x, self.melW)
        return 10.0 * torch.log10(torch.clamp(mel, min=self.amin))


class Conv(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x)))


class Vgg7(nn.Module):
    def __init__(self, channels=13):
        super().__init__()
        self.l1 = Conv(1, channels)
        self.l2 = Conv(channels, channels)
        self.l3 = Conv(channels, channels)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.l4 = Conv(channels, channels)
        self.l5 = Conv(channels, channels)
        self.l6 = Conv(channels, channels)
        self.l7 = Conv(channels, channels)
        self.lin = nn.Conv2d(channels, channels, 1)
        self.sof = nn.Conv2d(channels, channels, 1)
        self.spectrogram_extractor = Spectrogram()
        self.logmel_extractor = LogmelFilterBank()

    def forward(self, x):
        x = x - x.mean(1, keepdim=True)
        x = x / torch.sqrt((x * x).mean(1, keepdim=True) + 1e-7)
        x = self.logmel_extractor(self.spectrogram_extractor(x))
        x = self.l3(self.l2(self.l1(x)))
        x = self.maxpool(x)
        x = self.l7(self.l6(self.l5(self.l4(x))))
        x = (self.lin(x) * self.sof(x).softmax(2)).sum(2)  # over time
        x = torch.cat([x, torch.bmm(x, x.transpose(1, 2))], 2)
        return x.reshape(x.shape[0], -1)


class AuthorsWav2Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.vgg7 = Vgg7()
        self.adv = nn.Linear(338, 3)

    def forward(self, x):
        return self.adv(self.vgg7(x))


@pytest.fixture(scope="module")
def authors_model():
    torch.manual_seed(3)
    model = AuthorsWav2Small()
    # Random convolutions, BatchNorm statistics from real speech, a fitted
    # head: outputs that vary across clips like a trained model's.
    return fit_student(model, model.adv, speech_crops(per_clip=8, seed=3))


@pytest.fixture(scope="module")
def release(authors_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("wav2small release")
    state = {k: v.contiguous() for k, v in authors_model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text('{"model_type": "wav2small"}')
    return folder


def _authors(model, samples):
    with torch.no_grad():
        return model(torch.from_numpy(samples)[None])[0].numpy()


def test_layout_is_the_authors(authors_model):
    keys = set(authors_model.state_dict())
    assert "vgg7.l1.conv.weight" in keys and "adv.weight" in keys
    assert "vgg7.spectrogram_extractor.conv_real.weight" in keys
    assert "vgg7.logmel_extractor.melW" in keys
    assert "vgg7.logmel_extractor.amin" in keys
    assert tuple(authors_model.vgg7.logmel_extractor.melW.shape) == (33, 26)


def test_import_matches_authors_model_on_real_speech(
    authors_model, release, tmp_path
):
    held_out = tmp_path / "held out"
    held_out.mkdir()
    import soundfile as sf

    for index, clip in enumerate(held_out_clips(count=24)):
        sf.write(held_out / f"{index}.wav", clip, 16000)
    out = tmp_path / "imported"
    out.mkdir()
    (out / "old.txt").write_text("replaced with --overwrite")
    status = main(
        [
            "import-audeering",
            str(release),
            "--out",
            str(out),
            "--held-out",
            str(held_out),
            "--overwrite",
        ]
    )
    assert status == 0
    assert (out / "old.txt").exists()  # --overwrite: package files only
    loaded = EmotionDimensions.from_hparams(
        source=str(out), savedir=str(tmp_path / "savedir")
    )
    onnx_float = OnnxEmotionDimensions(out, prefer_int8=False)
    for name in SPEECH:
        samples = read_audio(DATA / name)
        expected = _authors(authors_model, samples)
        got = loaded.predict_file(DATA / name)
        got_onnx = onnx_float.predict_file(DATA / name)
        assert np.abs([got[d] for d in DIMENSIONS] - expected).max() <= 1e-4
        assert (
            np.abs([got_onnx[d] for d in DIMENSIONS] - expected).max() <= 1e-4
        )
    card = (out / "README.md").read_text()
    assert "license: cc-by-nc-sa-4.0" in card
    assert "converted from audEERING's Wav2Small release" in card


def test_import_whose_int8_gate_fails_keeps_the_float_model(
    authors_model, release, tmp_path, capsys
):
    """The float model passes its check, the int8 copy cannot (a gate above
    any CCC): the folder is written without the int8 file, the command
    exits with the warning status, and every record says why. Without
    --held-out the checks run on the speech shipped with the package."""
    out = tmp_path / "imported"
    status = main(
        [
            "import-audeering",
            str(release),
            "--out",
            str(out),
            "--int8-min-ccc",
            "1.5",
        ]
    )
    assert status == 3
    captured = capsys.readouterr()
    assert "warning: model.onnx written, no int8 file, because" in (
        captured.err
    )
    assert "int8 vs float CCC below 1.5" in captured.err
    assert {p.name for p in out.iterdir()} == {
        "hyperparams.yaml",
        "model.ckpt",
        "model.onnx",
        # audEERING's audonnx files, for the float model only.
        "audonnx.onnx",
        "audonnx.yaml",
        "model.yaml",
        "export.json",
        "README.md",
        "checksums.sha256",
    }
    report = json.loads((out / "export.json").read_text())
    assert report["int8_outcome"] == "refused"
    assert report["quantization"] == "none" and report["int8_ccc"] is None
    assert report["no_int8_reason"].startswith("no int8 file, because")
    (refused,) = report["int8_refused"]  # auto without held-out: weights
    assert refused["mode"] == "weights" and refused["int8_min_ccc"] == 1.5
    assert set(refused["int8_ccc"]) == set(DIMENSIONS)
    assert report["held_out_items"] == len(reference_speech_clips())
    assert report["held_out_source"].startswith("reference speech")
    card = (out / "README.md").read_text()
    assert report["no_int8_reason"] in card
    assert "model.int8.onnx" not in card
    assert 'OnnxEmotionDimensions("model.onnx")' in card
    # Every reader of the folder takes the float model.
    onnx_model = OnnxEmotionDimensions(out)
    assert onnx_model.path == str(out / "model.onnx")
    samples = read_audio(DATA / SPEECH[0])
    got = onnx_model.predict_file(DATA / SPEECH[0])
    expected = _authors(authors_model, samples)
    assert np.abs([got[d] for d in DIMENSIONS] - expected).max() <= 1e-4
    results = tmp_path / "predictions.json"
    arguments = ["predict", str(DATA / SPEECH[0]), "--quiet"]
    for backend in ("onnx", "torch"):
        assert (
            main(
                arguments
                + ["--model", str(out), "--backend", backend]
                + ["--out", str(results)]
            )
            == 0
        )
        (row,) = json.loads(results.read_text())
        assert abs(row["arousal"] - expected[0]) <= 1e-4


def test_import_without_int8(release, tmp_path):
    out = tmp_path / "float only"
    status = main(
        [
            "import-audeering",
            str(release),
            "--out",
            str(out),
            "--quantization",
            "none",
        ]
    )
    assert status == 0
    assert (out / "model.onnx").is_file()
    assert not (out / "model.int8.onnx").exists()
    report = json.loads((out / "export.json").read_text())
    assert report["int8_outcome"] == "not requested"
    assert report["int8_refused"] == []
    assert "float model only" in (out / "README.md").read_text()


def test_pytorch_bin_and_plain_file(authors_model, release, tmp_path):
    torch.save(authors_model.state_dict(), tmp_path / "pytorch_model.bin")
    samples = read_audio(DATA / "ASR_spk1_snt3.wav")
    expected = _authors(authors_model, samples)
    for source in (tmp_path, tmp_path / "pytorch_model.bin", release):
        model, overrides, report = load_audeering(source)
        assert overrides["channels"] == 13 and overrides["n_mels"] == 26
        assert report["dft_max_abs_diff"] < 1e-5
        with torch.no_grad():
            got = model(torch.from_numpy(samples)[None])[0].numpy()
        assert np.abs(got - expected).max() <= 1e-4


def _save(state, folder):
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in state.items()},
        str(folder / "model.safetensors"),
    )
    return folder


def test_unexpected_missing_and_misshapen_keys_are_named(
    authors_model, tmp_path
):
    state = dict(authors_model.state_dict())
    extra = dict(state, **{"vgg7.l8.conv.weight": torch.zeros(13, 13, 3, 3)})
    with pytest.raises(CheckpointLayoutError, match="unexpected keys: vgg7.l8"):
        load_audeering(_save(extra, tmp_path / "extra"))
    missing = {k: v for k, v in state.items() if k != "vgg7.sof.bias"}
    with pytest.raises(
        CheckpointLayoutError, match="missing keys: vgg7.sof.bias"
    ):
        load_audeering(_save(missing, tmp_path / "missing"))
    wrong = dict(state, **{"adv.weight": torch.zeros(3, 300)})
    with pytest.raises(CheckpointLayoutError, match=r"adv.weight \(3, 300\)"):
        load_audeering(_save(wrong, tmp_path / "wrong"))
    status = main(
        [
            "import-audeering",
            str(tmp_path / "wrong"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert status == 1 and not (tmp_path / "o").exists()


def test_front_end_that_differs_is_refused(authors_model, tmp_path):
    state = dict(authors_model.state_dict())
    htk_like = state["vgg7.logmel_extractor.melW"] * 1.01
    changed = dict(state, **{"vgg7.logmel_extractor.melW": htk_like})
    with pytest.raises(CheckpointLayoutError, match="melW differs"):
        load_audeering(_save(changed, tmp_path / "mel"))
    rows = state["vgg7.spectrogram_extractor.conv_real.weight"]
    unwindowed = dict(
        state,
        **{"vgg7.spectrogram_extractor.conv_real.weight": rows + 0.01},
    )
    with pytest.raises(CheckpointLayoutError, match="DFT rows differ"):
        load_audeering(_save(unwindowed, tmp_path / "dft"))


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not tensors")
    with pytest.raises(CheckpointLayoutError, match="not a readable"):
        load_audeering(tmp_path)
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        load_audeering(tmp_path / "..")
