"""What makes CPU training faster changes nothing else.

The recipe's ``DropFreq`` gives SpeechBrain's output for the same draws;
loader workers follow the machine's cores in both recipes (and a user's
``--num_workers`` still wins); evaluation sets are read in order of
duration, and the training set in batches of similar length (the pipeline
benchmark's ``training_speed`` section is tested in test_benchmarks.py).
"""

import sys
import types
from pathlib import Path

import pytest
import speechbrain as sb
import torch
import yaml
from hyperpyyaml import load_hyperpyyaml
from speechbrain.augment import time_domain

from speechbrain_wav2small.dataio.loading import loader_workers
from speechbrain_wav2small.training.augment import DropFreq

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes" / "MSP-Podcast"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("samples", [3_000, 48_000])
def test_drop_freq_matches_speechbrain(seed, samples):
    settings = {"drop_freq_count_low": 1, "drop_freq_count_high": 3}
    wavs = torch.randn(3, samples, generator=torch.Generator().manual_seed(9))
    torch.manual_seed(seed)
    ours = DropFreq(**settings)(wavs)
    torch.manual_seed(seed)
    theirs = time_domain.DropFreq(**settings)(wavs)
    assert ours.shape == wavs.shape
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    # It filters: the output is not the input.
    assert (ours - wavs).abs().max() > 1e-3


def test_drop_freq_leaves_multichannel_input_to_speechbrain():
    wavs = torch.randn(2, 8_000, 2)
    torch.manual_seed(0)
    ours = DropFreq()(wavs)
    torch.manual_seed(0)
    theirs = time_domain.DropFreq()(wavs)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize(
    "cores, workers", [(1, 0), (2, 0), (3, 0), (4, 1), (8, 2), (16, 4), (96, 4)]
)
def test_loader_workers_follow_the_cores(cores, workers):
    assert loader_workers(cores) == workers


def _recipe_hparams(path, overrides):
    with open(path, encoding="utf-8") as stream:
        return load_hyperpyyaml(stream, overrides)


def test_recipes_take_loader_workers_from_the_machine(tmp_path):
    sys.path.insert(0, str(RECIPES))
    try:
        from run_chain import DEMO_TEACHER
    finally:
        sys.path.remove(str(RECIPES))
    common = {"data_folder": str(tmp_path), "output_folder": str(tmp_path)}
    # The chain passes them on the command line, where YAML reads them.
    teacher = {
        **common,
        **{k: yaml.safe_load(v) for k, v in DEMO_TEACHER.items()},
    }
    cases = [
        (RECIPES / "distill" / "hparams" / "distill.yaml", common),
        (RECIPES / "teacher" / "hparams" / "train_dawn.yaml", teacher),
    ]
    for path, overrides in cases:
        hparams = _recipe_hparams(path, overrides)
        for loader in ("train_dataloader_opts", "valid_dataloader_opts"):
            assert hparams[loader]["num_workers"] == loader_workers(), path
        # The user's choice wins, in both loaders.
        hparams = _recipe_hparams(path, {**overrides, "num_workers": 3})
        assert hparams["train_dataloader_opts"]["num_workers"] == 3
        assert hparams["valid_dataloader_opts"]["num_workers"] == 3


def test_distillation_evaluates_in_order_of_duration(distill_recipe, tmp_path):
    """Development and test sets come out sorted by duration."""
    header = "ID,duration,wav,arousal,dominance,valence\n"
    durations = [3.0, 1.0, 2.5, 0.5]
    wav = REPO / "tests" / "data" / "ASR_spk1_snt1.wav"
    ids = [f"MSP-PODCAST_0001_{i:04d}" for i in range(len(durations))]
    rows = [
        f"{utterance},{duration},{wav},0.5,0.5,0.5\n"
        for utterance, duration in zip(ids, durations, strict=True)
    ]
    manifests = {}
    for split in ("Train", "Development", "Test1"):
        manifests[split] = str(tmp_path / f"{split}.csv")
        Path(manifests[split]).write_text(header + "".join(rows))
    hparams = _recipe_hparams(
        RECIPES / "distill" / "hparams" / "distill.yaml",
        {
            "data_folder": str(tmp_path),
            "output_folder": str(tmp_path / "out"),
            "targets": "on_the_fly",
            "exclude_test_podcasts": False,
        },
    )
    distill_recipe.write_training_set(hparams, manifests)
    _, valid, test = distill_recipe.dataio_prepare(hparams, manifests)
    order = [ids[i] for i in (3, 1, 2, 0)]
    assert [item["id"] for item in valid] == order
    assert [item["id"] for item in test] == order


def test_length_buckets_batch_similar_lengths(distill_recipe, tmp_path):
    """Batches of batch_size clips of similar cropped length (one partial
    batch per bucket at most); every clip once per epoch, reshuffled every
    epoch."""
    durations = [5.0] * 40 + [0.3 + 0.04 * i for i in range(40)]
    lines = ["ID,duration,wav"] + [
        f"u{i},{d},x.wav" for i, d in enumerate(durations)
    ]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    dataset = sb.dataio.dataset.DynamicItemDataset.from_csv(
        str(tmp_path / "train.csv")
    )
    hparams = {
        "train_dataloader_opts": {"batch_size": 8, "shuffle": True},
        "dynamic_batching": True,
        "max_train_seconds": 2.0,
        "num_buckets": 4,
        "batch_size": 8,
        "seed": 3,
    }
    brain = types.SimpleNamespace(train_sampler=None)
    options = distill_recipe.train_loader_options(brain, dataset, hparams)
    sampler = options["batch_sampler"]
    assert brain.train_sampler is sampler
    assert "batch_size" not in options and "shuffle" not in options
    batches = list(sampler)
    seen = sorted(index for batch in batches for index in batch)
    assert seen == list(range(len(durations)))
    crops = [min(d, 2.0) for d in durations]
    # Full batches: at most one partial batch per bucket.
    assert len(batches) <= -(-len(durations) // 8) + 4
    for batch in batches:
        assert len(batch) <= 8
        lengths = [crops[i] for i in batch]
        assert max(lengths) - min(lengths) <= 0.5  # one bucket: 2.0 / 4
    # Reshuffled each epoch (SpeechBrain calls set_epoch).
    sampler.set_epoch(1)
    assert list(sampler) != batches
    # Without a crop, the longest clip sets the buckets.
    uncropped = distill_recipe.train_loader_options(
        brain, dataset, {**hparams, "max_train_seconds": None}
    )["batch_sampler"]
    assert sorted(i for b in uncropped for i in b) == seen
    # Random batches when switched off.
    hparams["dynamic_batching"] = False
    assert distill_recipe.train_loader_options(brain, dataset, hparams) == {
        "batch_size": 8,
        "shuffle": True,
    }
