"""Teachers: hub-layout loading, refusals, padding, eval mode, windows.

Tiny random-weight teachers of both real architectures are saved in the
exact on-disk layout of the public checkpoints and loaded back offline
through the same loader a hub id goes through.
"""

import json
import math

import pytest
import torch
from conftest import pad_batch, read_speech
from hub_cache import offline_hub, repo_files
from safetensors.torch import load_file, save_file
from transformers import Wav2Vec2FeatureExtractor

from speechbrain_wav2small.dataio.audio import read_audio
from speechbrain_wav2small.functional import normalize_waveform
from speechbrain_wav2small.lobes.teachers import (
    DawnTeacher,
    EnsembleTeacher,
    OdysseyTeacher,
)
from speechbrain_wav2small.teachers import (
    HeadWeightsError,
    build_teacher,
    load_pretrained_teacher,
    load_teacher,
    save_teacher,
    teacher_fingerprint,
    tiny_teacher_config,
)

KINDS = ("dawn", "wavlm_odyssey")
LAYOUT = {
    "dawn": [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "vocab.json",
    ],
    "wavlm_odyssey": [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ],
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each kind: (in-memory teacher, folder holding its hub layout)."""
    result = {}
    for kind in KINDS:
        teacher = build_teacher(kind, seed=3)
        folder = tmp_path_factory.mktemp(kind)
        result[kind] = (teacher, save_teacher(teacher, folder))
    return result


def _copy(folder, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


@pytest.mark.parametrize("kind", KINDS)
def test_hub_layout_files_and_config(saved, kind):
    _, folder = saved[kind]
    assert sorted(p.name for p in folder.iterdir()) == LAYOUT[kind]
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {
        "0": "arousal",
        "1": "dominance",
        "2": "valence",
    }
    keys = set(load_file(str(folder / "model.safetensors")))
    if kind == "dawn":
        assert config["architectures"] == ["Wav2Vec2ForSpeechClassification"]
        assert config["model_type"] == "wav2vec2"
        assert config["feat_extract_norm"] == "layer"
        assert config["do_stable_layer_norm"] is True
        assert config["problem_type"] == "regression"
        preprocessor = json.loads(
            (folder / "preprocessor_config.json").read_text()
        )
        assert preprocessor["do_normalize"] is True
        assert preprocessor["return_attention_mask"] is True
        assert preprocessor["sampling_rate"] == 16000
        assert json.loads((folder / "vocab.json").read_text()) == {}
        prefixes = {"wav2vec2", "classifier"}
        assert {"classifier.dense.weight", "classifier.out_proj.bias"} <= keys
    else:
        assert config["architectures"] == ["SERModel"]
        assert config["model_type"] == "ser"
        assert config["mean"] == pytest.approx(-8.3e-5)
        assert config["std"] == pytest.approx(0.0849)
        assert config["num_classes"] == 3
        assert config["classifier_hidden_layers"] == 1
        prefixes = {"ssl_model", "pool_model", "ser_model"}
        assert {
            "pool_model.attention",
            "pool_model.sap_linear.weight",
            "ser_model.fc.0.0.weight",
            "ser_model.fc.0.1.weight",
            "ser_model.out.0.weight",
        } <= keys
    assert {key.split(".")[0] for key in keys} == prefixes
    # The public files store weight norm under its legacy names.
    assert any(key.endswith("pos_conv_embed.conv.weight_g") for key in keys)


@pytest.mark.parametrize("kind", KINDS)
def test_offline_load_gives_the_same_teacher(saved, kind, speech_clips):
    original, folder = saved[kind]
    loaded = load_teacher(kind, source=folder)
    assert type(loaded) is type(original)
    assert loaded.name == kind and loaded.source == str(folder)
    assert loaded.fingerprint == teacher_fingerprint(original)
    wavs, lengths = pad_batch(speech_clips)
    with torch.no_grad():
        expected = original(wavs, lengths)
        got = loaded(wavs, lengths)
    assert got.shape == (3, 3) and got.dtype == torch.float32
    assert torch.equal(got, expected)


def test_hub_id_goes_through_the_same_loader(saved, tmp_path, monkeypatch):
    """A hub id is read by the real library from a real hub cache, offline.

    The repository also holds a file the loader never needs, and the cache
    holds only what a download with the loader's ``allow_patterns`` left:
    the library refuses such a partial snapshot unless those patterns are
    asked for again, so loading proves that only they are fetched.
    """
    teacher, folder = saved["dawn"]
    hub = offline_hub(tmp_path / "hf", monkeypatch)
    files = {**repo_files(folder), "tf_model.h5": b"never needed"}
    hub.add("someone/tiny-dawn", files, downloaded=sorted(repo_files(folder)))
    loaded = load_teacher("dawn", source="someone/tiny-dawn")
    assert loaded.source == "someone/tiny-dawn"
    assert loaded.fingerprint == teacher_fingerprint(teacher)
    pretrained = load_pretrained_teacher("someone/tiny-dawn")
    assert pretrained.source == "someone/tiny-dawn"
    assert pretrained.fingerprint == loaded.fingerprint


@pytest.mark.parametrize(
    "source", ["./no/such/teacher", "/no/such/teacher", "no_such_folder"]
)
def test_missing_path_is_never_sent_to_the_hub(source, tmp_path, monkeypatch):
    """A path gets its own error, naming it; sent to the (offline, empty)
    hub cache, it would get the hub's error instead."""
    offline_hub(tmp_path / "hf", monkeypatch)
    with pytest.raises(FileNotFoundError, match=source.lstrip("./")) as error:
        load_teacher("dawn", source=source)
    assert "the hub was not asked" in str(error.value)
    assert "HF_HUB_OFFLINE" not in str(error.value)


def test_pytorch_bin_with_parametrized_names_loads(saved, tmp_path):
    original, folder = saved["dawn"]
    copy = _copy(folder, tmp_path)
    state = load_file(str(copy / "model.safetensors"))
    renamed = {
        key.replace("weight_g", "parametrizations.weight.original0").replace(
            "weight_v", "parametrizations.weight.original1"
        ): value
        for key, value in state.items()
    }
    torch.save(renamed, copy / "pytorch_model.bin")
    (copy / "model.safetensors").unlink()
    loaded = load_teacher("dawn", source=copy)
    assert loaded.fingerprint == teacher_fingerprint(original)


@pytest.mark.parametrize("kind", KINDS)
def test_headless_checkpoint_is_refused_naming_the_keys(saved, kind, tmp_path):
    _, folder = saved[kind]
    copy = _copy(folder, tmp_path)
    state = load_file(str(copy / "model.safetensors"))
    backbone = "wav2vec2." if kind == "dawn" else "ssl_model."
    headless = {k: v for k, v in state.items() if k.startswith(backbone)}
    save_file(headless, str(copy / "model.safetensors"))
    head_key = (
        "classifier.out_proj.weight" if kind == "dawn" else "ser_model.out.0"
    )
    with pytest.raises(HeadWeightsError, match=head_key) as error:
        load_teacher(kind, source=copy)
    assert "random" in str(error.value)


def test_misshaped_head_is_refused_naming_the_key(saved, tmp_path):
    _, folder = saved["dawn"]
    copy = _copy(folder, tmp_path)
    state = load_file(str(copy / "model.safetensors"))
    state["classifier.out_proj.weight"] = torch.zeros(4, 32)
    state["classifier.out_proj.bias"] = torch.zeros(4)
    save_file(state, str(copy / "model.safetensors"))
    with pytest.raises(
        HeadWeightsError, match=r"classifier.out_proj.weight is \[4, 32\]"
    ):
        load_teacher("dawn", source=copy)


def test_backbone_not_matching_its_config_is_refused(saved, tmp_path):
    _, folder = saved["wavlm_odyssey"]
    copy = _copy(folder, tmp_path)
    config = json.loads((copy / "config.json").read_text())
    config["ssl_config"]["num_hidden_layers"] = 1
    config["num_hidden_layers"] = 1
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="unexpected weights"):
        load_teacher("wavlm_odyssey", source=copy)


def test_id2label_order_is_honoured(saved, tmp_path, speech_clips):
    original, folder = saved["dawn"]
    copy = _copy(folder, tmp_path)
    config = json.loads((copy / "config.json").read_text())
    # The same weights, declared as valence, arousal, dominance.
    config["id2label"] = {"0": "valence", "1": "arousal", "2": "dominance"}
    (copy / "config.json").write_text(json.dumps(config))
    loaded = load_teacher("dawn", source=copy)
    with torch.no_grad():
        expected = original(speech_clips[0][None])
        got = loaded(speech_clips[0][None])
    assert torch.allclose(got, expected[:, [1, 2, 0]])


@pytest.mark.parametrize("kind", KINDS)
def test_clip_alone_equals_clip_in_padded_batch(saved, kind, speech_clips):
    teacher = saved[kind][0]
    wavs, lengths = pad_batch(speech_clips)
    with torch.no_grad():
        batch = teacher(wavs, lengths)
        alone = torch.cat([teacher(clip[None]) for clip in speech_clips])
        # More padding than signal for the shortest clip.
        padded = torch.nn.functional.pad(wavs, (0, 40000))
        longer = teacher(padded, lengths * wavs.shape[1] / padded.shape[1])
    assert torch.allclose(batch, alone, atol=1e-5)
    assert torch.allclose(longer, alone, atol=1e-5)
    assert not torch.allclose(alone[0], alone[1], atol=1e-3)


def test_group_norm_backbone_stays_padding_aware(speech_clips):
    # A group-normalised extractor cannot be masked: clips run one by one.
    config = tiny_teacher_config("dawn", feat_extract_norm="group")
    teacher = DawnTeacher(config)
    wavs, lengths = pad_batch(speech_clips)
    with torch.no_grad():
        batch = teacher(wavs, lengths)
        alone = torch.cat([teacher(clip[None]) for clip in speech_clips])
    assert torch.allclose(batch, alone, atol=1e-5)


def test_dawn_normalisation_matches_the_feature_extractor(speech_clips):
    extractor = Wav2Vec2FeatureExtractor(do_normalize=True)
    clips = [c.numpy() for c in speech_clips]
    expected = extractor.zero_mean_unit_var_norm(clips, None)
    wavs, lengths = pad_batch(speech_clips)
    ours = normalize_waveform(wavs, lengths)
    for row, reference in enumerate(expected):
        assert torch.allclose(
            ours[row, : len(reference)], torch.from_numpy(reference), atol=1e-5
        )


@pytest.mark.parametrize("kind", KINDS)
def test_eval_is_forced_even_after_train(saved, kind, speech_clips):
    teacher = saved[kind][0]
    brain_modules = torch.nn.ModuleDict({"teacher": teacher})
    brain_modules.train()  # what a Brain does at every epoch
    assert not any(module.training for module in teacher.modules())
    assert not any(p.requires_grad for p in teacher.parameters())
    clip = speech_clips[0][None]
    with torch.no_grad():
        outputs = [teacher(clip) for _ in range(3)]
    assert torch.equal(outputs[0], outputs[1])
    assert torch.equal(outputs[0], outputs[2])


def test_unfrozen_teacher_fine_tunes_saves_and_reloads(tmp_path, speech_clips):
    teacher = build_teacher("dawn", seed=5, frozen=False).train()
    assert teacher.training and teacher.classifier.dense.weight.requires_grad
    before = teacher_fingerprint(teacher)
    wavs, lengths = pad_batch(speech_clips)
    optimizer = torch.optim.SGD(teacher.parameters(), lr=0.1)
    for _ in range(2):
        loss = (teacher(wavs, lengths) - 0.5).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    teacher.freeze()
    assert not teacher.training
    after = teacher_fingerprint(teacher)
    assert after != before
    loaded = load_teacher("dawn", source=save_teacher(teacher, tmp_path))
    assert loaded.fingerprint == after
    with torch.no_grad():
        assert torch.equal(loaded(wavs, lengths), teacher(wavs, lengths))


def test_save_never_overwrites_silently(saved):
    teacher, folder = saved["dawn"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_teacher(teacher, folder)
    with pytest.raises(TypeError, match="members"):
        save_teacher(EnsembleTeacher([teacher]), folder)


@pytest.mark.parametrize("kind", KINDS)
def test_long_clip_is_averaged_over_windows(kind):
    teacher = build_teacher(kind, seed=1, max_window_seconds=2.0)
    # 7.66 s of real speech at 16 kHz: four windows of about 1.9 s.
    clip = torch.from_numpy(read_audio(_data("TTS_LJ050-0131.wav")))
    n_samples = clip.shape[0]
    n_windows = math.ceil(n_samples / 32000)
    bounds = [n_samples * j // n_windows for j in range(n_windows + 1)]
    short = read_speech("ASR_spk2_snt1.wav")
    with torch.no_grad():
        windows = [
            (teacher(clip[None, a:b]), b - a)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        expected = sum(out * size for out, size in windows) / n_samples
        alone = teacher(clip[None])
        wavs, lengths = pad_batch([short, clip])
        batch = teacher(wavs, lengths)
        teacher.max_window_seconds = None
        unbounded = teacher(clip[None])
    assert n_windows == 4
    assert torch.allclose(alone, expected, atol=1e-5)
    assert torch.allclose(batch[1:], expected, atol=1e-5)
    assert not torch.allclose(unbounded, expected, atol=1e-4)


def test_too_short_clip_is_an_error():
    teacher = build_teacher("dawn")
    with pytest.raises(ValueError, match="fewer than 400 samples"):
        teacher(torch.randn(1, 399))


def test_ensemble_yaml_is_the_weighted_mean(saved, speech_clips):
    dawn_folder, wavlm_folder = saved["dawn"][1], saved["wavlm_odyssey"][1]
    ensemble = load_teacher(
        "ensemble",
        overrides={
            "dawn_source": str(dawn_folder),
            "wavlm_source": str(wavlm_folder),
            "dawn_weight": 3.0,
            "wavlm_weight": 1.0,
        },
    )
    assert isinstance(ensemble.members[0], DawnTeacher)
    assert isinstance(ensemble.members[1], OdysseyTeacher)
    assert ensemble.source == f"{dawn_folder} + {wavlm_folder}"
    wavs, lengths = pad_batch(speech_clips)
    with torch.no_grad():
        got = ensemble(wavs, lengths)
        expected = 0.75 * saved["dawn"][0](wavs, lengths) + 0.25 * saved[
            "wavlm_odyssey"
        ][0](wavs, lengths)
    assert torch.allclose(got, expected, atol=1e-6)
    ensemble.train()
    assert not any(module.training for module in ensemble.modules())
    assert ensemble.fingerprint != teacher_fingerprint(saved["dawn"][0])
    with pytest.raises(ValueError, match="dawn_source and wavlm_source"):
        load_teacher("ensemble", source=dawn_folder)


def _data(name):
    from conftest import DATA

    return str(DATA / name)
