"""Bring your own teacher labels: a CSV of another model's predictions made
into label caches (validation, fingerprint, stale caches), on real files."""

import csv
import logging

import pytest
import torch

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.labelling import (
    StaleCacheError,
    merge_label_caches,
    read_label_cache,
)
from speechbrain_wav2small.labelling.cache import (
    build_sidecar,
    cache_paths,
    start_cache,
)
from speechbrain_wav2small.labelling.external import (
    FINGERPRINT_PREFIX,
    TeacherLabelsError,
    read_teacher_labels,
    write_external_caches,
)

IDS = [f"MSP-PODCAST_0001_000{i}" for i in range(1, 5)]


@pytest.fixture
def corpus(tmp_path):
    """A Train manifest (4 clips) and a Development one (1 clip)."""
    audio = tmp_path / "Audios"
    manifests = {}
    for split, ids in (("Train", IDS), ("Development", ["dev_1"])):
        manifests[split] = tmp_path / f"{split}.csv"
        with open(manifests[split], "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["ID", "duration", "wav", *DIMENSIONS])
            for i in ids:
                writer.writerow([i, "2.0", audio / f"{i}.wav", 0.5, 0.5, 0.5])
    return tmp_path, manifests


def write_csv(path, header, rows):
    """A CSV of teacher labels."""
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def good_rows(folder, key="path"):
    """One row per clip of the corpus, by path or by ID."""
    rows = []
    for n, i in enumerate([*IDS, "dev_1"]):
        name = str(folder / "Audios" / f"{i}.wav") if key == "path" else i
        rows.append([name, 0.1 * n, 0.2, 1 - 0.1 * n])
    return rows


def label_paths(folder, splits=("Train", "Development")):
    """Where the caches go."""
    return {split: folder / "labels" / f"{split}.csv" for split in splits}


@pytest.mark.parametrize("key", ["path", "ID"])
def test_good_csv_makes_caches_a_training_set_reads(corpus, key):
    folder, manifests = corpus
    table = read_teacher_labels(
        write_csv(
            folder / "mine.csv", [key, *DIMENSIONS], good_rows(folder, key)
        )
    )
    counts = write_external_caches(
        table, manifests, label_paths(folder), required=["Train"]
    )
    assert counts == {"Train": 4, "Development": 1}
    cache = read_label_cache(folder / "labels" / "Train.csv")
    assert cache["teacher"]["fingerprint"] == table["fingerprint"]
    assert cache["teacher"]["fingerprint"].startswith(FINGERPRINT_PREFIX)
    assert cache["teacher"]["teacher"]["source"] == str(folder / "mine.csv")
    assert cache["labels"][IDS[2]]["labels"] == pytest.approx([0.2, 0.2, 0.8])
    # The distillation recipe's training set is merged from this cache.
    out = folder / "labels" / "train_set.csv"
    assert merge_label_caches([folder / "labels" / "Train.csv"], out) == {
        "kept": 4,
        "excluded": 0,
        "duplicates": 0,
    }


def test_file_names_match_when_the_csv_was_made_elsewhere(corpus):
    folder, manifests = corpus
    rows = [[f"/elsewhere/{i}.wav", 0.3, 0.3, 0.3] for i in IDS]
    table = read_teacher_labels(
        write_csv(folder / "mine.csv", ["path", *DIMENSIONS], rows)
    )
    counts = write_external_caches(
        table,
        {"Train": manifests["Train"]},
        label_paths(folder, ["Train"]),
        required=["Train"],
    )
    assert counts == {"Train": 4}


def test_windows_are_averaged_by_their_length(tmp_path):
    path = write_csv(
        tmp_path / "w.csv",
        ["ID", *DIMENSIONS, "start", "end"],
        [["a", 0.0, 0.0, 0.0, 0, 1], ["a", 1.0, 1.0, 1.0, 1, 4]],
    )
    assert read_teacher_labels(path)["labels"]["a"] == [0.75, 0.75, 0.75]


@pytest.mark.parametrize(
    "header, rows, problem",
    [
        (["file", *DIMENSIONS], [["a", 0.1, 0.2, 0.3]], "key column"),
        (["ID", "arousal", "valence"], [["a", 0.1, 0.3]], "['dominance']"),
        (["ID", *DIMENSIONS], [["a", 0.1, "high", 0.3]], "row 2: dominance"),
        (["ID", *DIMENSIONS], [["a", 0.1, 0.2, "nan"]], "row 2: valence"),
        (
            ["ID", *DIMENSIONS],
            [["a", 0.1, 0.2, 0.3], ["b", 0.1, 0.2, 0.3], ["a", 0.4, 0.2, 0.3]],
            "row 4: duplicate of row 2",
        ),
        (["ID", *DIMENSIONS], [["a", 4.5, 0.2, 0.3]], "row 2: arousal = 4.5"),
        (["ID", *DIMENSIONS], [["", 0.1, 0.2, 0.3]], "row 2: empty ID"),
        (
            ["ID", *DIMENSIONS, "start", "end"],
            [["a", 0.1, 0.2, 0.3, 2, 1]],
            "row 2: window start=2 end=1",
        ),
        (["ID", *DIMENSIONS], [], "no rows"),
    ],
)
def test_bad_csv_names_file_row_and_problem(tmp_path, header, rows, problem):
    path = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(TeacherLabelsError) as error:
        read_teacher_labels(path)
    assert str(error.value).startswith(f"{path}: ")
    assert problem in str(error.value)


def test_missing_csv_is_named(tmp_path):
    with pytest.raises(TeacherLabelsError, match="nowhere.csv is missing"):
        read_teacher_labels(tmp_path / "nowhere.csv")


def test_missing_training_file_is_refused(corpus):
    folder, manifests = corpus
    rows = [r for r in good_rows(folder, "ID") if r[0] != IDS[1]]
    path = write_csv(folder / "mine.csv", ["ID", *DIMENSIONS], rows)
    with pytest.raises(TeacherLabelsError) as error:
        write_external_caches(
            read_teacher_labels(path),
            manifests,
            label_paths(folder),
            required=["Train"],
        )
    assert f"{path}: 1 of the 4 files of Train" in str(error.value)
    assert IDS[1] in str(error.value)


def test_values_slightly_outside_the_range_warn(tmp_path, caplog):
    path = write_csv(
        tmp_path / "t.csv", ["ID", *DIMENSIONS], [["a", 1.1, 0.5, -0.05]]
    )
    with caplog.at_level(logging.WARNING):
        read_teacher_labels(path)
    assert "2 value(s) outside 0..1 (min -0.050, max 1.100)" in caplog.text


def test_changed_csv_is_never_mixed_with_its_old_cache(corpus):
    folder, manifests = corpus
    header = ["ID", *DIMENSIONS]
    rows = good_rows(folder, "ID")
    path = write_csv(folder / "mine.csv", header, rows)
    first = read_teacher_labels(path)
    write_external_caches(first, manifests, label_paths(folder))
    # Reordered rows, another number format: the same table, rerun allowed.
    write_csv(path, header, [[r[0], f"{r[1]:.4f}", *r[2:]] for r in rows[::-1]])
    again = read_teacher_labels(path)
    assert again["fingerprint"] == first["fingerprint"]
    write_external_caches(again, manifests, label_paths(folder))
    # One value changed: the old caches are refused, not overwritten.
    rows[0][1] = 0.9
    changed = read_teacher_labels(write_csv(path, header, rows))
    assert changed["fingerprint"] != first["fingerprint"]
    with pytest.raises(StaleCacheError, match="another teacher"):
        write_external_caches(changed, manifests, label_paths(folder))
    cache = read_label_cache(folder / "labels" / "Train.csv")
    assert cache["teacher"]["fingerprint"] == first["fingerprint"]


def test_a_teacher_models_cache_is_not_mixed_with_csv_labels(corpus):
    folder, manifests = corpus
    paths = cache_paths(folder / "labels" / "Train.csv")
    start_cache(paths, build_sidecar(torch.nn.Identity(), "sha256:model"))
    table = read_teacher_labels(
        write_csv(
            folder / "m.csv", ["ID", *DIMENSIONS], good_rows(folder, "ID")
        )
    )
    with pytest.raises(StaleCacheError, match="sha256:model"):
        write_external_caches(
            table, {"Train": manifests["Train"]}, label_paths(folder, ["Train"])
        )
