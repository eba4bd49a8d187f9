"""``run_chain.py --students``: the paper's table, run on two students.

The chain runs on the sample corpus (``tests/samples/MSP-Podcast``) with
teacher labels from a CSV (no teacher to fine-tune): wav2small and
mobilenetv3_small are distilled for one epoch, tested, exported and timed,
beside a third student whose YAML asks for an impossible setting (a
negative learning rate), which fails in its own row while the other two
complete. A second run finds both rows complete and skips them. Every
output file and every column is checked, and the per-student settings of
the six YAML presets.
"""

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from speechbrain_wav2small.students import STUDENTS, load_student_hparams

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "MSP-Podcast"
CORPUS = REPO / "tests" / "samples" / "MSP-Podcast"
sys.path.insert(0, str(RECIPE))

import students_table  # noqa: E402

GOOD = {"wav2small": 10_806, "mobilenetv3_small": 1_520_643}
BROKEN = "broken_wav2small"
#: One short epoch for every student, over their own demo settings.
OVERRIDES = {
    "number_of_epochs": 1,
    "max_train_seconds": 1.0,
    "export_held_out_items": 8,
}


def write_teacher_labels(path):
    """Another model's predictions: the human labels on 0..1, moved a
    little, for every clip of the sample corpus."""
    with open(CORPUS / "Labels" / "labels_consensus.csv") as stream:
        rows = list(csv.DictReader(stream))
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["ID", "arousal", "dominance", "valence"])
        for index, row in enumerate(rows):
            shift = 0.02 * ((index % 5) - 2)
            values = [
                (float(row[column]) - 1) / 6 + shift
                for column in ("EmoAct", "EmoDom", "EmoVal")
            ]
            writer.writerow([Path(row["FileName"]).stem, *values])
    return path


def write_broken_student(path):
    """wav2small under another name, with a negative demo learning rate."""
    text = (REPO / "hparams" / "students" / "wav2small.yaml").read_text()
    text = text.replace("student_name: wav2small", f"student_name: {BROKEN}")
    demo = "    demo:\n        lr: 0.002\n"
    assert demo in text
    path.write_text(text.replace(demo, "    demo:\n        lr: -1.0\n"))
    return path


def run_chain(out, labels, students):
    """``run_chain.py --demo --students ...``; its exit status and output."""
    command = [
        sys.executable,
        str(RECIPE / "run_chain.py"),
        "--demo",
        "--data_folder",
        str(CORPUS),
        "--output_folder",
        str(out),
        "--teacher_labels",
        str(labels),
        "--students",
        ",".join(students),
        "--distill_overrides",
        json.dumps(OVERRIDES),
    ]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=900
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Two runs of the chain: the first with the broken student, the
    second with the two good ones only."""
    root = tmp_path_factory.mktemp("students")
    labels = write_teacher_labels(root / "teacher_labels.csv")
    broken = write_broken_student(root / f"{BROKEN}.yaml")
    out = root / "chain"
    first = run_chain(out, labels, [*GOOD, str(broken)])
    report = json.loads((out / "students.json").read_text())
    logs = {
        name: (out / "students" / name / "distil_output.txt").stat().st_mtime
        for name in GOOD
    }
    second = run_chain(out, labels, list(GOOD))
    return {
        "out": out,
        "first": first,
        "second": second,
        "report": report,
        "log_times": logs,
    }


def rows_by_student(report):
    """The table's rows by student name."""
    return {row["student"]: row for row in report["rows"]}


@pytest.mark.slow
def test_every_output_file_and_column(chain):
    out, report = chain["out"], chain["report"]
    assert [row["student"] for row in report["rows"]] == [*GOOD, BROKEN]
    assert report["preset"] == "demo"
    assert "--students" in report["command"]
    assert report["teacher"] is None  # labels from a CSV: no teacher model
    # The paper's teacher architecture, timed for scale all the same.
    reference = report["teacher_architecture"]
    assert reference["name"].startswith("Dawn architecture")
    assert reference["ms_per_10s"] > 0
    assert 150e6 < reference["parameters"] < 350e6
    machine = report["machine"]
    assert machine["cpu"] and machine["cores"] >= 1
    assert machine["matmul_gflops_1_thread"] > 0
    rows = rows_by_student(report)
    for name, parameters in GOOD.items():
        row = rows[name]
        assert set(students_table.COLUMN_KEYS) <= set(row)
        assert row["error"] is None, row["error"]
        assert row["parameters"] == parameters
        assert row["mmac_per_second"] > 10
        for ref in ("teacher", "human"):
            for dim in ("arousal", "dominance", "valence", "mean"):
                value = row[f"ccc_{ref}_{dim}"]
                assert value is not None and -1 <= value <= 1
        # The student's demo settings, under the overrides for everyone.
        demo = load_student_hparams(name)["training"]["demo"]
        assert row["settings"]["lr"] == demo["lr"]
        assert row["settings"]["number_of_epochs"] == 1
        run_hparams = (
            Path(row["output_folder"]) / "hyperparams.yaml"
        ).read_text()
        assert "number_of_epochs: 1\n" in run_hparams
        results = json.loads(
            (Path(row["output_folder"]) / "results.json").read_text()
        )
        export = Path(row["output_folder"]) / "export"
        export = export / Path(results["checkpoint"]).name
        assert row["float_bytes"] == (export / "model.onnx").stat().st_size
        assert row["float_ms_per_10s"] > 0
        if row["int8_outcome"] == "written":
            int8 = export / "model.int8.onnx"
            assert row["int8_bytes"] == int8.stat().st_size
            assert row["int8_ms_per_10s"] > 0
            assert row["int8_vs_float_min_ccc"] >= 0.999
        else:
            # One epoch may leave outputs too flat for the int8 gate: the
            # float model alone, and the reason, as the export records it.
            assert row["int8_outcome"] == "refused"
            assert row["no_int8_reason"].startswith("no int8 file")
            assert row["int8_bytes"] is row["int8_ms_per_10s"] is None
            assert row["int8_vs_float_min_ccc"] is None
        assert row["distil_seconds"] > 0

    table = (out / "students.md").read_text().splitlines()
    headers = [header for _, header, _ in students_table.COLUMNS]
    assert table[0] == "| " + " | ".join(headers) + " |"
    body = [line for line in table[2:] if line.startswith("| ")]
    assert [line.split(" | ")[0][2:] for line in body] == [*GOOD, BROKEN]
    assert all(line.count(" | ") == len(headers) - 1 for line in body)
    assert "| 10,806 | 64.4 |" in body[0]
    assert any(line.startswith("Machine: ") for line in table)
    assert any(
        line.startswith("Command: `python run_chain.py") for line in table
    )
    assert any("not MSP-Podcast" in line for line in table)
    assert any(
        line.startswith("Dawn architecture") and "for scale" in line
        for line in table
    )
    png = (out / "students.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


@pytest.mark.slow
def test_failing_student_is_reported_in_its_row(chain):
    status, output = chain["first"]
    assert status == 1
    row = rows_by_student(chain["report"])[BROKEN]
    assert "distillation failed (exit 1)" in row["error"]
    assert "Invalid learning rate: -1.0" in row["error"]
    assert row["parameters"] == GOOD["wav2small"]  # counted before training
    assert row["ccc_teacher_mean"] is None and row["float_bytes"] is None
    assert f"Failed: {BROKEN}" in output
    # The failure came after the good students, which still completed.
    assert all(
        students_table.row_complete(rows_by_student(chain["report"])[name])
        for name in GOOD
    )


@pytest.mark.slow
def test_second_run_skips_finished_students(chain):
    status, output = chain["second"]
    assert status == 0, output[-3000:]
    for name in GOOD:
        assert f"=== student {name}: done" in output
        log = chain["out"] / "students" / name / "distil_output.txt"
        assert log.stat().st_mtime == chain["log_times"][name]
    assert "=== distil" not in output
    again = json.loads((chain["out"] / "students.json").read_text())
    before = rows_by_student(chain["report"])
    for name in GOOD:
        assert rows_by_student(again)[name] == before[name]


@pytest.mark.slow
def test_finished_distillation_is_timed_with_its_int8_file(tmp_path):
    """A distillation found finished on disk is not run again; both of
    its ONNX files are timed (a fitted Wav2Small package gives real ones)."""
    from fitted_students import packaged_wav2small

    package = packaged_wav2small()["package"]
    folder = tmp_path / "wav2small"
    export = folder / "export" / "CKPT+done"
    export.mkdir(parents=True)
    report = json.loads((package / "export.json").read_text())
    for name in report["files"]:
        shutil.copy(package / name, export / name)
    report["files"] = {name: str(export / name) for name in report["files"]}
    (export / "export.json").write_text(json.dumps(report))
    ccc = {"ccc": 0.9, "ccc_arousal": 0.8, "ccc_dominance": 0.9}
    results = {
        "checkpoint": str(folder / "save" / "CKPT+done"),
        "ccc_vs_teacher": {**ccc, "ccc_valence": 1.0},
        "ccc_vs_human": {**ccc, "ccc_valence": math.nan},
        "onnx_bytes": report["bytes"],
    }
    (folder / "results.json").write_text(json.dumps(results))
    row = students_table.run_student(
        "wav2small",
        folder,
        distil_command=["false"],  # would fail the row if it ran
        settings=("demo", {}, {}),
        previous={"distil_seconds": 12.5},
        cwd=tmp_path,
    )
    assert row["error"] is None and students_table.row_complete(row)
    assert row["int8_bytes"] == report["bytes"]["model.int8.onnx"] > 0
    assert row["int8_ms_per_10s"] > 0 and row["float_ms_per_10s"] > 0
    assert row["int8_vs_float_min_ccc"] == min(report["int8_ccc"].values())
    assert row["ccc_human_valence"] is None  # an undefined CCC
    assert row["distil_seconds"] == 12.5  # from the earlier run


@pytest.mark.parametrize("name", list(STUDENTS))
def test_each_student_states_its_settings(name):
    hparams = load_student_hparams(name)
    demo = students_table.training_settings(name, "demo")
    full = students_table.training_settings(name, "full")
    for settings in (demo, full):
        assert set(settings) == set(students_table.SETTINGS_KEYS)
        assert all(value > 0 for value in settings.values())
    # The demo is a short run; MSP-Podcast gets the full crop.
    assert demo["number_of_epochs"] <= full["number_of_epochs"]
    assert full["max_train_seconds"] == 8.0
    if name.startswith("mobilenet"):
        model = hparams["model"]
        for key in ("drop_rate", "drop_path_rate", "stem_stride"):
            assert key in hparams
        assert model.backbone.conv_stem.stride == (hparams["stem_stride"],) * 2
        assert model.backbone.drop_rate == hparams["drop_rate"]


def test_unknown_student_or_no_export_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown student 'resnet'"):
        students_table.parse_students("wav2small,resnet")
    with pytest.raises(SystemExit, match="missing.yaml"):
        students_table.parse_students(str(tmp_path / "missing.yaml"))
    with pytest.raises(SystemExit, match="export_best cannot be false"):
        students_table.run_students(
            ["wav2small"],
            tmp_path,
            ["false"],
            "demo",
            extra_overrides={"export_best": False},
        )
    assert not list(tmp_path.iterdir())  # refused before anything ran
