"""The weak-teacher guard: its verdicts, and the distillation recipe's check
of real label caches (built on disk in the cache format, no training)."""

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.labelling.cache import (
    LABEL_COLUMNS,
    build_sidecar,
    cache_paths,
    complete_sidecar,
    write_rows,
)
from speechbrain_wav2small.training.teacher_guard import (
    DEFAULT_MIN_CCC,
    DEFAULT_MIN_SPREAD_RATIO,
    WeakTeacherError,
    assess_teacher,
    enforce_verdict,
)

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes" / "MSP-Podcast"


def human_labels(n=60, seed=0):
    """Human-like labels on 0..1 (std about 0.15 per dimension)."""
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + 0.15 * rng.standard_normal((n, 3)), 0, 1)


def test_healthy_teacher_passes():
    human = human_labels()
    noisy = human + 0.02 * np.random.default_rng(1).standard_normal(human.shape)
    verdict = assess_teacher(teacher_labels=noisy, human_labels=human)
    assert not verdict["weak"] and verdict["problems"] == []
    for dimension in DIMENSIONS:
        assert verdict["figures"][dimension]["ccc"] > 0.9
        assert 0.8 < verdict["figures"][dimension]["spread_ratio"] < 1.2
    assert enforce_verdict(verdict, "x")["warning"] is None


def test_constant_teacher_is_stopped_with_figures_and_advice():
    human = human_labels()
    constant = np.full_like(human, 0.5)
    verdict = assess_teacher(teacher_labels=constant, human_labels=human)
    assert verdict["weak"]
    with pytest.raises(WeakTeacherError) as error:
        enforce_verdict(verdict, "pseudo-labelling")
    message = str(error.value)
    for dimension in DIMENSIONS:
        assert f"{dimension}: label spread ratio 0.000 < 0.25" in message
    assert "pseudo-labelling" in message
    assert "--teacher dawn" in message and "--teacher_labels" in message
    assert "--accept_weak_teacher" in message
    # The verdict travels with the error, for results.json.
    assert error.value.record["weak"] and not error.value.record["accepted"]
    assert error.value.record["figures"]["arousal"]["spread_ratio"] == 0.0


def test_random_teacher_fails_on_ccc_only():
    """Random labels spread like human ones but agree with nothing."""
    human = human_labels(200)
    random = human_labels(200, seed=7)
    verdict = assess_teacher(teacher_labels=random, human_labels=human)
    assert verdict["weak"]
    assert all("CCC vs human labels" in p for p in verdict["problems"])
    assert len(verdict["problems"]) == 3


def test_one_weak_dimension_is_named():
    """The case that motivated the guard: dominance CCC -0.01."""
    ccc = {"ccc_arousal": 0.5, "ccc_dominance": -0.01, "ccc_valence": 0.4}
    verdict = assess_teacher(ccc=ccc)
    assert verdict["problems"] == [
        "dominance: CCC vs human labels -0.010 < 0.3"
    ]


def test_spread_without_human_labels_uses_the_nominal_reference():
    rng = np.random.default_rng(0)
    flat = 0.5 + 0.01 * rng.standard_normal((100, 3))
    assert assess_teacher(teacher_labels=flat)["weak"]
    lively = rng.uniform(size=(100, 3))
    assert not assess_teacher(teacher_labels=lively)["weak"]


def test_accepted_weak_teacher_carries_the_warning():
    verdict = assess_teacher(ccc=dict.fromkeys(["ccc_arousal"], 0.1))
    record = enforce_verdict(verdict, "teacher fine-tuning", True)
    assert record["accepted"] and record["weak"]
    assert record["warning"].startswith("Weak teacher after teacher fine")
    assert "arousal: CCC vs human labels 0.100 < 0.3" in record["warning"]


def test_thresholds_are_options():
    ccc = dict.fromkeys([f"ccc_{d}" for d in DIMENSIONS], 0.2)
    assert assess_teacher(ccc=ccc)["weak"]
    assert not assess_teacher(ccc=ccc, min_ccc=0.1)["weak"]
    assert (DEFAULT_MIN_CCC, DEFAULT_MIN_SPREAD_RATIO) == (0.3, 0.25)


# --------------------------------------------------------------------------
# The distillation recipe's check, on label caches written on disk


def write_split(folder, split, human, teacher):
    """A prepared manifest with human labels and a teacher's label cache."""
    ids = [f"{split}_{i}" for i in range(len(human))]
    manifest = folder / "prep" / f"{split}.csv"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["ID", "duration", "wav", *DIMENSIONS])
        for i, row in zip(ids, human, strict=True):
            writer.writerow([i, "1.0", f"/x/{i}.wav", *row])
    paths = cache_paths(folder / "labels" / f"{split}.csv")
    rows = [
        dict(
            zip(LABEL_COLUMNS, (i, f"/x/{i}.wav", "1.0", *labels), strict=True)
        )
        for i, labels in zip(ids, teacher, strict=True)
    ]
    paths["labels"].parent.mkdir(parents=True, exist_ok=True)
    write_rows(paths["labels"], LABEL_COLUMNS, rows)
    sidecar = build_sidecar(torch.nn.Identity(), "sha256:t")
    complete_sidecar(paths, sidecar, n_labels=len(rows), n_errors=0)
    return manifest


def guard_hparams(folder, accept=False):
    """The hparams the recipe's check reads."""
    return {
        "label_folder": str(folder / "labels"),
        "teacher_labels": None,
        "min_teacher_ccc": 0.3,
        "min_teacher_spread_ratio": 0.25,
        "accept_weak_teacher": accept,
    }


def caches(folder, teacher_of):
    """Train and Development caches; ``teacher_of(human)`` labels them."""
    manifests = {}
    for split, seed in (("Train", 0), ("Development", 1)):
        human = human_labels(40, seed)
        manifests[split] = write_split(folder, split, human, teacher_of(human))
    return manifests


def test_recipe_check_stops_a_constant_teacher(distill_recipe, tmp_path):
    manifests = caches(tmp_path, lambda h: np.full_like(h, 0.5))
    with pytest.raises(WeakTeacherError, match="label spread ratio 0.000"):
        distill_recipe.check_label_caches(guard_hparams(tmp_path), manifests)
    record = distill_recipe.check_label_caches(
        guard_hparams(tmp_path, accept=True), manifests
    )
    assert record["accepted"] and "Weak teacher" in record["warning"]


def test_recipe_check_passes_a_healthy_teacher(distill_recipe, tmp_path):
    rng = np.random.default_rng(3)
    manifests = caches(
        tmp_path, lambda h: h + 0.02 * rng.standard_normal(h.shape)
    )
    record = distill_recipe.check_label_caches(
        guard_hparams(tmp_path), manifests
    )
    assert not record["weak"] and record["warning"] is None
    assert record["figures"]["valence"]["ccc"] > 0.9


@pytest.fixture
def run_chain():
    """``run_chain.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        "run_chain", RECIPES / "run_chain.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_distill_results(folder, ccc, **extra):
    """A distillation ``results.json`` in ``folder`` (created) whose every
    CCC is ``ccc``, plus the ``extra`` keys; returns the folder."""
    stats = {"ccc": ccc, **{f"ccc_{d}": ccc for d in DIMENSIONS}}
    folder.mkdir()
    (folder / "results.json").write_text(
        json.dumps(
            {
                "student": "wav2small",
                "parameters": 10806,
                "ccc_vs_human": stats,
                "ccc_vs_teacher": stats,
                **extra,
            }
        )
    )
    return folder


def test_chain_table_repeats_an_accepted_warning(run_chain, tmp_path, capsys):
    """``run_chain.py``'s final table shows the warning of an accepted weak
    teacher, and works without a teacher run (``--teacher_labels``)."""
    distill = write_distill_results(
        tmp_path / "distill",
        0.2,
        warning="Weak teacher after pseudo-labelling: ...",
    )
    run_chain.print_results(tmp_path / "no_teacher", distill, [])
    out = capsys.readouterr().out
    assert "WARNING (distillation): Weak teacher after pseudo" in out
    assert "teacher vs human" not in out and "student vs human" in out


def test_recipe_labels_from_a_csv_then_guards_them(distill_recipe, tmp_path):
    """``teacher_labels``: the recipe's caches come from the CSV, and the
    guard judges them like a teacher's (healthy passes, constant stops)."""
    manifests = caches(tmp_path, lambda h: h)  # caches replaced below
    rng = np.random.default_rng(5)
    for name, of in (
        ("good", lambda h: h + 0.02 * rng.standard_normal(h.shape)),
        ("flat", lambda h: np.full_like(h, 0.4)),
    ):
        table = tmp_path / f"{name}.csv"
        with open(table, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["ID", *DIMENSIONS])
            for manifest in manifests.values():
                rows = list(csv.DictReader(open(manifest, newline="")))
                human = np.array(
                    [[float(r[d]) for d in DIMENSIONS] for r in rows]
                )
                for row, labels in zip(rows, of(human), strict=True):
                    writer.writerow([row["ID"], *labels])
        hparams = guard_hparams(tmp_path / name)
        hparams["teacher_labels"] = str(table)
        distill_recipe.label_from_csv(hparams, manifests, list(manifests))
        if name == "good":
            record = distill_recipe.check_label_caches(hparams, manifests)
            assert not record["weak"]
        else:
            with pytest.raises(WeakTeacherError, match=str(table)):
                distill_recipe.check_label_caches(hparams, manifests)


def test_chain_goes_on_after_a_float_only_package(run_chain, tmp_path, capsys):
    """A package written without its int8 copy (the packager's exit status
    3) is complete: the chain predicts with it and repeats the warning
    under the results; any other failure still stops the chain."""
    stages = []
    float_only = [sys.executable, "-c", "import sys; sys.exit(3)"]
    run_chain.run_stage("package for the hub", float_only, stages, 3)
    assert stages[0]["warning"].startswith("done with a warning (exit 3)")
    with pytest.raises(SystemExit, match="'package for the hub' failed"):
        run_chain.run_stage("package for the hub", float_only, stages)
    failed = [sys.executable, "-c", "import sys; sys.exit(1)"]
    with pytest.raises(SystemExit, match=r"failed \(exit 1\)"):
        run_chain.run_stage("package for the hub", failed, stages, 3)

    distill = write_distill_results(tmp_path / "distill", 0.8)
    capsys.readouterr()
    run_chain.print_results(tmp_path / "no_teacher", distill, stages[:1])
    printed = capsys.readouterr().out
    assert "=== WARNING (package for the hub): done with a warning" in printed
