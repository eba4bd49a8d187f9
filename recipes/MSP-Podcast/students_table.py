"""The paper's comparison: every student from one teacher's labels.

``run_chain.py --students all`` (or ``--students name,name``; ``make
students`` on the demo corpus) calls :func:`run_students` once the teacher
and its pseudo-labels exist. For each student, in its own folder
``<output_folder>/students/<student>/``:

1. distil it with ``distill/train.py`` from the chain's label caches, with
   the student's own settings (the ``training`` block of its YAML in
   ``hparams/students``: ``demo`` with ``--demo``, else ``full``); the
   recipe tests the best checkpoint against the teacher and the human labels
   of Test1 and exports it to ONNX, float and int8 (``auto`` quantisation,
   each file behind its gate);
2. time both ONNX files in onnxruntime on one thread (median of repeated
   runs on a 10 s clip, after a warm-up);
3. write its row to ``students.json``, ``students.md`` and
   ``students.png`` in the output folder.

The columns: trainable parameters and multiply-accumulates per second of
audio (counted on the model, as ``wav2small students`` does), CCC per
dimension and mean against the teacher and the human labels, the int8 vs
float CCC (lowest dimension), the float and int8 file sizes and latencies,
and the wall time of the distillation run (training, test and export).
The plot puts each student's mean CCC against the teacher over its int8
latency (log scale), the marker's area following the int8 file's size,
with the teacher's own latency (PyTorch, one thread) as a reference line,
and the latency of the paper's teacher architecture (Dawn, random weights)
as a second one: the demo's teacher is a tiny stand-in, far faster.

A student whose row is complete is skipped on the next run; the others
resume (SpeechBrain's checkpoints resume the distillation, a finished one
is not run again: delete a student's folder to distil it anew). A student
that fails gets the reason in its row's ``error`` column and the next one
goes on; the exit status is then 1.

Authors
 * speechbrain-wav2small contributors 2026
"""

import json
import math
import resource
import shlex
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.cli.students import describe
from speechbrain_wav2small.inference.onnx_emotion import load_session
from speechbrain_wav2small.students import (
    STUDENTS,
    load_student_hparams,
    student_hparams_file,
    training_block,
)
from speechbrain_wav2small.utils.durable import atomic_write
from speechbrain_wav2small.utils.model_files import (
    EXPORT_REPORT_FILE,
    FLOAT_FILE,
    INT8_FILE,
)
from speechbrain_wav2small.utils.timing import (
    machine_info,
    timed_runs,
    torch_threads,
)

#: The table's columns: JSON key, markdown header, how to print the value.
COLUMNS = (
    ("student", "student", "{}"),
    ("parameters", "parameters", "{:,}"),
    ("mmac_per_second", "MMAC/s", "{:.1f}"),
    *(
        (f"ccc_{ref}_{dim}", f"{ref} {dim[0].upper()}", "{:.3f}")
        for ref in ("teacher", "human")
        for dim in (*DIMENSIONS, "mean")
    ),
    ("int8_vs_float_min_ccc", "int8 vs float CCC (min)", "{:.4f}"),
    ("float_bytes", "float bytes", "{:,}"),
    ("int8_bytes", "int8 bytes", "{:,}"),
    ("float_ms_per_10s", "float ms / 10 s", "{:.1f}"),
    ("int8_ms_per_10s", "int8 ms / 10 s", "{:.1f}"),
    ("distil_seconds", "distil s", "{:.0f}"),
    ("error", "error", "{}"),
)
COLUMN_KEYS = tuple(key for key, _, _ in COLUMNS)

#: The training settings every preset of a student YAML states.
SETTINGS_KEYS = ("lr", "batch_size", "max_train_seconds", "number_of_epochs")
#: The two presets of a student YAML's ``training`` block.
PRESETS = ("demo", "full")

#: Latency clip and repeats: a warm-up run, then the median of at least
#: ``MIN_RUNS`` (at most ``MAX_RUNS``, within ``BUDGET_SECONDS``).
CLIP_SECONDS = 10
MIN_RUNS, MAX_RUNS, BUDGET_SECONDS = 5, 20, 2.0

#: The paper's teachers, by kind, as the table names them.
TEACHER_ARCHITECTURES = {
    "dawn": "Dawn architecture (wav2vec2-large-robust, 12 layers)",
}

#: Lines of a failed distillation's output kept in memory for its row.
TAIL_LINES = 40


def parse_students(spec):
    """The students of ``--students``: ``all`` or names / YAML paths.

    Arguments
    ---------
    spec : str
        ``"all"`` (the six of
        :data:`~speechbrain_wav2small.students.STUDENTS`) or a
        comma-separated list of names or paths to student YAML files.

    Returns
    -------
    list of str
        The students, without repeats, in the order given (YAML paths made
        absolute: the recipes run in their own folder).

    Raises
    ------
    SystemExit
        An unknown name or a missing YAML file (the message names it).

    Example
    -------
    >>> parse_students("mobilenetv3_small, wav2small,wav2small")
    ['mobilenetv3_small', 'wav2small']
    >>> len(parse_students("all"))
    6
    """
    if spec.strip() == "all":
        return list(STUDENTS)
    students = []
    for item in (part.strip() for part in spec.split(",")):
        if not item or item in students:
            continue
        try:
            student_hparams_file(item)
        except (ValueError, FileNotFoundError) as error:
            raise SystemExit(f"--students: {error}") from None
        if item not in STUDENTS:
            item = str(Path(item).resolve())
        if item not in students:
            students.append(item)
    if not students:
        raise SystemExit("--students: no student named")
    return students


def student_label(student):
    """The name a student's row and folder go by: its name, or its YAML
    file's name without the suffix.

    Example
    -------
    >>> student_label("wav2small"), student_label("my/tiny_student.yaml")
    ('wav2small', 'tiny_student')
    """
    return student if student in STUDENTS else Path(student).stem


def training_settings(student, preset):
    """A student's ``training`` settings for ``preset``, from its YAML.

    Arguments
    ---------
    student : str
        A name or a student YAML path.
    preset : str
        ``"demo"`` or ``"full"``.

    Returns
    -------
    dict
        Distillation hyperparameter -> value (``lr``, ``batch_size``,
        ``max_train_seconds``, ``number_of_epochs``, and any other key of
        ``distill.yaml`` the preset sets); empty for a YAML of one's own
        without a ``training`` block (the recipe's defaults then apply).

    Raises
    ------
    ValueError
        The preset is not a mapping of plain values.

    Example
    -------
    >>> training_settings("wav2small", "full")["max_train_seconds"]
    8.0
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, not {preset!r}")
    settings = training_block(load_student_hparams(student)).get(preset) or {}
    where = f"{student_hparams_file(student)}: training: {preset}"
    if not isinstance(settings, dict) or not all(
        isinstance(value, (int, float, str, bool))
        for value in settings.values()
    ):
        raise ValueError(f"{where} must map hyperparameters to plain values")
    return dict(settings)


def distil_overrides(student, preset, base=None, extra=None):
    """The overrides of one student's distillation run.

    The chain's own (``base``: the demo's shorter training),
    then the student's settings, then the user's ``extra`` ones. A loader
    option naming its batch size is kept in step with ``batch_size``.

    Arguments
    ---------
    student : str
        A name or a student YAML path.
    preset : str
        ``"demo"`` or ``"full"`` (see :func:`training_settings`).
    base, extra : dict, optional
        Overrides below and above the student's settings.

    Returns
    -------
    dict
        Hyperparameter -> value, for ``distill/train.py``.

    Example
    -------
    >>> base = {"train_dataloader_opts": '{"batch_size": 16}'}
    >>> overrides = distil_overrides("wav2small", "full", base,
    ...                              {"batch_size": 4})
    >>> overrides["lr"], overrides["train_dataloader_opts"]
    (0.002, '{"batch_size": 4}')
    """
    overrides = {
        **(base or {}),
        **training_settings(student, preset),
        **(extra or {}),
    }
    if "batch_size" in overrides:
        for key in ("train_dataloader_opts", "valid_dataloader_opts"):
            if key in overrides:
                options = json.loads(overrides[key])
                options["batch_size"] = int(overrides["batch_size"])
                overrides[key] = json.dumps(options)
    return overrides


def run_students(
    students,
    output_folder,
    distil_command,
    preset,
    base_overrides=None,
    extra_overrides=None,
    teacher_folder=None,
    command=None,
    cwd=None,
):
    """Distils, tests, exports and times each student; writes the table.

    Arguments
    ---------
    students : list of str
        Names or student YAML paths (see :func:`parse_students`).
    output_folder : str or os.PathLike
        The chain's output folder: ``students/`` and the table go there.
    distil_command : list of str
        ``distill/train.py`` with its hyperparameter file and the options
        every student shares (data, labels, teacher, device); the student,
        its output folder and its overrides are appended.
    preset : str
        Which settings of each student YAML apply: ``"demo"`` or ``"full"``.
    base_overrides, extra_overrides : dict, optional
        See :func:`distil_overrides`.
    teacher_folder : str or os.PathLike, optional
        The teacher whose labels the students learn (hub layout), timed
        for the plot's reference line; ``None`` without a teacher model
        (labels from a CSV).
    command : str, optional
        The command line that made the table, recorded with it.
    cwd : str or os.PathLike, optional
        Where ``distil_command`` runs.

    Returns
    -------
    int
        0, or 1 when any of ``students`` failed (see its row's ``error``).
    """
    if not isinstance(extra_overrides or {}, dict):
        raise SystemExit(
            f"--distill_overrides must be a JSON object, not {extra_overrides}"
        )
    if not (extra_overrides or {}).get("export_best", True):
        raise SystemExit(
            "--distill_overrides: the table needs each student's ONNX "
            "files; export_best cannot be false here"
        )
    out = Path(output_folder)
    table_file = out / "students.json"
    report = read_report(table_file)
    report.update(command=command, preset=preset)
    rows = {row["student"]: row for row in report.get("rows", [])}
    failed = []
    for student in students:
        label = student_label(student)
        previous = rows.get(label, {})
        if row_complete(previous):
            print(f"\n=== student {label}: done ({table_file}); skipping")
            continue
        row = run_student(
            student,
            out / "students" / label,
            distil_command,
            (preset, base_overrides, extra_overrides),
            previous,
            cwd,
        )
        rows[label] = row
        # Measured on this machine now: the figures go with its description.
        report["machine"] = machine_info()
        report["rows"] = ordered_rows(rows)
        write_outputs(out, report)
        if row["error"]:
            failed.append(label)
            print(f"\n=== student {label} FAILED: {row['error']}", flush=True)
    if teacher_folder is not None and not report.get("teacher"):
        report["teacher"] = teacher_reference(teacher_folder)
    report.setdefault("teacher", None)
    if not report.get("teacher_architecture"):
        report["teacher_architecture"] = teacher_architecture_reference()
    if "machine" not in report:
        report["machine"] = machine_info()
    report["rows"] = ordered_rows(rows)
    write_outputs(out, report)
    print("\n" + markdown_table(report))
    print(f"\nWritten: {', '.join(str(out / n) for n in OUTPUT_FILES)}")
    if failed:
        print(f"Failed: {', '.join(failed)} (see their 'error' column)")
        return 1
    return 0


#: What :func:`write_outputs` writes into the output folder.
OUTPUT_FILES = ("students.json", "students.md", "students.png")


def read_report(path):
    """The table written by an earlier run, or an empty one.

    Example
    -------
    >>> read_report("/nonexistent/students.json")
    {'rows': []}
    """
    path = Path(path)
    if not path.is_file():
        return {"rows": []}
    return json.loads(path.read_text(encoding="utf-8"))


def row_complete(row):
    """Whether a row holds every column and no error (a finished student).

    Example
    -------
    >>> row_complete({"student": "wav2small"})
    False
    >>> row_complete({**dict.fromkeys(COLUMN_KEYS, 1.0), "error": None})
    True
    """
    return all(key in row for key in COLUMN_KEYS) and not row.get("error")


def ordered_rows(rows):
    """Rows in the paper's order of :data:`STUDENTS`, then the others as
    they came.

    Example
    -------
    >>> rows = {"mine": {}, "mobilenetv3_small": {}, "wav2small": {}}
    >>> list(ordered_rows(rows)) == [{}, {}, {}]
    True
    """
    known = [rows[name] for name in STUDENTS if name in rows]
    return known + [row for name, row in rows.items() if name not in STUDENTS]


def run_student(student, folder, distil_command, settings, previous, cwd):
    """One student's row: distil (unless done), read the results, time.

    Arguments
    ---------
    student : str
        A name or a student YAML path.
    folder : pathlib.Path
        The student's output folder (the distillation's).
    distil_command : list of str
        See :func:`run_students`.
    settings : tuple
        ``(preset, base, extra)``, the arguments of
        :func:`distil_overrides` after the student.
    previous : dict
        The student's row of an earlier run (empty if none).
    cwd : str or os.PathLike
        Where the distillation runs.

    Returns
    -------
    dict
        The row: every key of :data:`COLUMN_KEYS`, with ``error`` None
        unless a step failed, and ``settings``, ``output_folder``,
        ``distil_cpu_seconds``, ``quantization``, ``int8_outcome``,
        ``no_int8_reason``.
    """
    row = dict.fromkeys(COLUMN_KEYS)
    row.update(
        student=student_label(student),
        hparams=str(student_hparams_file(student)),
        output_folder=str(folder),
        distil_seconds=previous.get("distil_seconds"),
        distil_cpu_seconds=previous.get("distil_cpu_seconds"),
    )
    step = "reading its training settings"
    try:
        overrides = distil_overrides(student, *settings)
        row["settings"] = overrides
        step = "counting parameters and MACs"
        counted = describe(student)
        row["parameters"] = counted["parameters"]
        row["mmac_per_second"] = counted["macs_per_second"] / 1e6
        step = "distillation"
        results = finished_distillation(folder)
        if results is None:
            seconds, cpu_seconds, error = distil(
                student, folder, distil_command, overrides, cwd
            )
            row["distil_seconds"] = round(seconds, 1)
            row["distil_cpu_seconds"] = round(cpu_seconds, 1)
            if error:
                row["error"] = error
                return row
            results = finished_distillation(folder)
            if results is None:
                row["error"] = (
                    f"distillation ended without test and export results "
                    f"in {folder / 'results.json'}"
                )
                return row
        step = "reading its results"
        row.update(ccc_columns(results))
        if results.get("export_error"):
            # Found again on every rerun: only a new distillation changes it.
            row["error"] = (
                f"ONNX export refused: {results['export_error']} (delete "
                f"{folder} to distil the student again)"
            )
            return row
        export = read_export(folder, results)
        row.update(export_columns(export))
        step = "timing its ONNX files"
        files = export["files"]
        row["float_ms_per_10s"] = onnx_latency(files[FLOAT_FILE]) * 1000
        if INT8_FILE in files:
            row["int8_ms_per_10s"] = onnx_latency(files[INT8_FILE]) * 1000
    except Exception as error:  # the row says what failed; others go on
        row["error"] = f"{step}: {type(error).__name__}: {error}"
    return row


def finished_distillation(folder):
    """The ``results.json`` of a distillation that tested and exported
    its best checkpoint, or ``None``.

    Example
    -------
    >>> finished_distillation(Path("/nonexistent")) is None
    True
    """
    path = Path(folder) / "results.json"
    if not path.is_file():
        return None
    results = json.loads(path.read_text(encoding="utf-8"))
    tested = "ccc_vs_teacher" in results and "checkpoint" in results
    exported = "onnx_bytes" in results or "export_error" in results
    return results if tested and exported else None


def distil(student, folder, distil_command, overrides, cwd):
    """Runs the distillation recipe for one student, its output shown and
    kept in ``folder/distil_output.txt``.

    Returns
    -------
    seconds : float
        Its wall time.
    cpu_seconds : float
        The processor time it used (user and system, all its processes):
        unlike the wall time, barely changed by other work on the machine.
    error : str or None
        Why it failed (exit status and last line of its output), or None.
    """
    command = [
        *distil_command,
        "--student",
        str(student),
        "--output_folder",
        str(folder),
    ]
    for key, value in overrides.items():
        command += [f"--{key}", str(value)]
    print(f"\n=== distil {student}\n$ {shlex.join(command)}", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "distil_output.txt"
    tail = deque(maxlen=TAIL_LINES)
    started = time.time()
    cpu_before = _children_cpu_seconds()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
            tail.append(line.rstrip())
        returncode = process.wait()
    seconds = time.time() - started
    cpu_seconds = _children_cpu_seconds() - cpu_before
    if returncode == 0:
        return seconds, cpu_seconds, None
    last = next((line for line in reversed(tail) if line.strip()), "")
    return (
        seconds,
        cpu_seconds,
        (
            f"distillation failed (exit {returncode}): {last.strip()} "
            f"(output: {log_path})"
        ),
    )


def _children_cpu_seconds():
    """User and system time of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ccc_columns(results):
    """The CCC columns of a row from a distillation's ``results.json``.

    Example
    -------
    >>> results = {"ccc_vs_teacher": {"ccc": 0.9, "ccc_arousal": 0.8,
    ...            "ccc_dominance": 0.9, "ccc_valence": 1.0},
    ...            "ccc_vs_human": {}}
    >>> columns = ccc_columns(results)
    >>> columns["ccc_teacher_mean"], columns["ccc_human_valence"]
    (0.9, None)
    """
    columns = {}
    for ref in ("teacher", "human"):
        stats = results.get(f"ccc_vs_{ref}") or {}
        for dim in DIMENSIONS:
            columns[f"ccc_{ref}_{dim}"] = _finite(stats.get(f"ccc_{dim}"))
        columns[f"ccc_{ref}_mean"] = _finite(stats.get("ccc"))
    return columns


def _finite(value):
    """``value`` as a float, ``None`` when missing or not finite (an
    undefined CCC: the table shows it as missing, JSON stays valid)."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def read_export(folder, results):
    """The export report written next to the best checkpoint's ONNX files.

    Arguments
    ---------
    folder : pathlib.Path
        The distillation's output folder.
    results : dict
        Its ``results.json`` (the best checkpoint's path).

    Returns
    -------
    dict
        The report of :func:`speechbrain_wav2small.export.export_onnx`.
    """
    path = (
        Path(folder)
        / "export"
        / Path(results["checkpoint"]).name
        / EXPORT_REPORT_FILE
    )
    if not path.is_file():
        raise FileNotFoundError(f"no export report {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def export_columns(export):
    """The export columns of a row from its export report.

    Example
    -------
    >>> export = {"bytes": {"model.onnx": 100, "model.int8.onnx": 40},
    ...           "int8_ccc": {"arousal": 0.9995, "valence": 0.9991},
    ...           "quantization": "weights", "int8_outcome": "written"}
    >>> columns = export_columns(export)
    >>> columns["int8_vs_float_min_ccc"], columns["int8_bytes"]
    (0.9991, 40)
    """
    int8_ccc = export.get("int8_ccc") or {}
    return {
        "float_bytes": export["bytes"][FLOAT_FILE],
        "int8_bytes": export["bytes"].get(INT8_FILE),
        "int8_vs_float_min_ccc": min(int8_ccc.values()) if int8_ccc else None,
        "quantization": export.get("quantization"),
        "int8_outcome": export.get("int8_outcome"),
        "no_int8_reason": export.get("no_int8_reason"),
    }


def _clip(seconds=CLIP_SECONDS):
    """A reproducible float32 noise clip [1, time] (cost does not depend
    on what is said)."""
    rng = np.random.default_rng(seconds)
    samples = 0.1 * rng.standard_normal((1, int(seconds * SAMPLE_RATE)))
    return samples.astype(np.float32)


def onnx_latency(path, seconds=CLIP_SECONDS):
    """Median wall time (s) of an exported student on one clip, one thread.

    With the settings the file asks for
    (:func:`~speechbrain_wav2small.inference.onnx_emotion.load_session`).

    Arguments
    ---------
    path : str or os.PathLike
        An exported ``model.onnx`` or ``model.int8.onnx``.
    seconds : float
        Length of the clip.

    Returns
    -------
    float
        Seconds per clip.
    """
    session = load_session(str(path), threads=1)
    feed = {"wavs": _clip(seconds), "wav_lens": np.ones(1, np.float32)}
    median, _ = timed_runs(
        lambda: session.run(None, feed), MIN_RUNS, MAX_RUNS, BUDGET_SECONDS
    )
    return median


def teacher_reference(folder, seconds=CLIP_SECONDS):
    """The teacher's latency for the plot's reference line.

    The teacher in PyTorch on one thread (the chain exports no ONNX
    teacher), on the same clip as the students.

    Arguments
    ---------
    folder : str or os.PathLike
        The teacher in the hub layout.
    seconds : float
        Length of the clip.

    Returns
    -------
    dict or None
        ``runtime``, ``ms_per_10s``, ``parameters``, ``folder``; ``None``
        (with a message) when it cannot be loaded.
    """
    # transformers takes seconds to import: only a chain with a teacher
    # model comes here.
    from speechbrain_wav2small.teachers import load_pretrained_teacher

    try:
        teacher = load_pretrained_teacher(str(folder)).eval()
    except Exception as error:  # the table stands without the line
        print(f"teacher {folder} not timed: {type(error).__name__}: {error}")
        return None
    return {
        "runtime": "PyTorch, 1 thread",
        **_pytorch_latency(teacher, seconds, min_runs=3, max_runs=5),
        "folder": str(folder),
    }


def _pytorch_latency(teacher, seconds, min_runs, max_runs):
    """``ms_per_10s`` (median, one thread, after a warm-up) and
    ``parameters`` of a PyTorch teacher on the table's clip."""
    wavs = torch.from_numpy(_clip(seconds))

    def run():
        """One forward pass of the teacher on the clip."""
        with torch.inference_mode():
            teacher(wavs)

    with torch_threads(1):
        median, _ = timed_runs(run, min_runs, max_runs, budget_seconds=5.0)
    return {
        "ms_per_10s": median * 1000 * 10 / seconds,
        "parameters": sum(p.numel() for p in teacher.parameters()),
    }


def teacher_architecture_reference(kind="dawn", seconds=CLIP_SECONDS):
    """The latency of the paper's teacher architecture, for scale.

    The chain's teacher may be the demo's tiny stand-in, far faster than
    the teacher the paper distils (Dawn: wav2vec2-large-robust pruned to
    12 layers); the students' speed-up is only meaningful against the
    latter. Its architecture with random weights (the weights do not change
    the cost) is timed as :func:`teacher_reference` times the chain's own,
    with fewer runs: each forward takes seconds.

    Arguments
    ---------
    kind : str
        A teacher kind of :func:`speechbrain_wav2small.teachers.backbone_config`.
    seconds : float
        Length of the clip.

    Returns
    -------
    dict
        ``name``, ``runtime``, ``ms_per_10s``, ``parameters``.
    """
    from speechbrain_wav2small.teachers import backbone_config, build_teacher

    teacher = build_teacher(kind, config=backbone_config(kind), seed=0).eval()
    return {
        "name": TEACHER_ARCHITECTURES[kind],
        "runtime": "PyTorch, 1 thread, random weights",
        **_pytorch_latency(teacher, seconds, min_runs=2, max_runs=3),
    }


def write_outputs(out, report):
    """Writes ``students.json``, ``students.md`` and ``students.png``.

    Arguments
    ---------
    out : pathlib.Path
        The output folder.
    report : dict
        ``rows``, ``command``, ``preset``, ``machine``, ``teacher``.
    """
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "students.json", json.dumps(report, indent=2) + "\n")
    atomic_write(out / "students.md", markdown_table(report) + "\n")
    plot(report, out / "students.png")


def _cell(value, template):
    """One markdown cell: ``value`` formatted, ``-`` when missing."""
    if value is None:
        return "-"
    return template.format(value).replace("|", "/")


def markdown_table(report):
    """The table as markdown, with the command and the machine under it.

    Example
    -------
    >>> row = {**dict.fromkeys(COLUMN_KEYS), "student": "wav2small",
    ...        "parameters": 10806, "error": "distillation failed"}
    >>> text = markdown_table({"rows": [row], "command": "run_chain.py"})
    >>> text.splitlines()[0].startswith("| student | parameters |")
    True
    >>> "| wav2small | 10,806 | - |" in text
    True
    """
    lines = [
        "| " + " | ".join(header for _, header, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in report.get("rows", []):
        cells = [_cell(row.get(key), template) for key, _, template in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        "CCC on Test1 against the teacher's labels (teacher) and the human "
        "labels (human): A arousal, D dominance, V valence, M mean. "
        "MMAC/s: multiply-accumulates per second of audio, counted. "
        f"Latency: onnxruntime, 1 thread, median per {CLIP_SECONDS} s clip. "
        "distil s: wall time of the distillation (training, test, export).",
    ]
    if report.get("preset") == "demo":
        notes.append("Demo-corpus figures (generated corpus, not MSP-Podcast).")
    teacher = report.get("teacher")
    if teacher:
        notes.append(
            f"Teacher: {teacher['ms_per_10s']:.1f} ms per {CLIP_SECONDS} s "
            f"({teacher['runtime']}), {teacher['parameters']:,} parameters."
        )
    reference = report.get("teacher_architecture")
    if reference:
        notes.append(
            f"{reference['name']}: {reference['ms_per_10s']:,.0f} ms per "
            f"{CLIP_SECONDS} s ({reference['runtime']}), "
            f"{reference['parameters']:,} parameters: the paper's teacher, "
            "for scale."
        )
    machine = report.get("machine")
    if machine:
        notes.append(
            f"Machine: {machine['cpu']}, {machine['cores']} cores; one-thread "
            f"float32 matmul {machine['matmul_gflops_1_thread']} GFLOP/s."
        )
    if report.get("command"):
        notes.append(f"Command: `{report['command']}`")
    return "\n".join(lines + notes)


def plot(report, path):
    """Mean CCC vs teacher over int8 latency, one point per student.

    The x axis is logarithmic; a marker's area follows the int8 file's
    size; a student without an int8 file is drawn hollow at its float
    latency. The chain's teacher's latency is a dashed vertical line, the
    paper's teacher architecture's a dotted one.

    Arguments
    ---------
    report : dict
        As for :func:`write_outputs`.
    path : str or os.PathLike
        The PNG file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    points = []
    for row in report.get("rows", []):
        ccc = row.get("ccc_teacher_mean")
        latency = row.get("int8_ms_per_10s") or row.get("float_ms_per_10s")
        size = row.get("int8_bytes") or row.get("float_bytes")
        if row.get("error") or ccc is None or not latency or not size:
            continue
        points.append((row, latency, ccc, size))
    figure, axis = plt.subplots(figsize=(9, 5.5))
    largest = max((size for *_, size in points), default=1)
    for row, latency, ccc, size in points:
        int8 = row.get("int8_ms_per_10s") is not None
        area = 30 + 900 * size / largest
        if int8:
            axis.scatter(latency, ccc, s=area, color="C0", alpha=0.6)
        else:
            axis.scatter(
                latency, ccc, s=area, facecolors="none", edgecolors="C0"
            )
        kind = "int8" if int8 else "float"
        axis.annotate(
            f"{row['student']}\n{size / 1000:,.0f} KB {kind}",
            (latency, ccc),
            textcoords="offset points",
            xytext=(8, 4),
            fontsize=8,
        )
    handles = [
        Line2D([], [], marker="o", color="C0", alpha=0.6, linestyle=""),
        Line2D([], [], marker="o", color="C0", fillstyle="none", ls=""),
    ]
    labels = ["int8 file (area: its size)", "float only (no int8 file)"]
    latencies = [latency for _, latency, _, _ in points]
    teacher = report.get("teacher")
    if teacher:
        latencies.append(teacher["ms_per_10s"])
        handles.append(
            axis.axvline(teacher["ms_per_10s"], color="grey", ls="--")
        )
        labels.append(
            f"this run's teacher ({teacher['parameters'] / 1e6:.2g}M "
            "parameters): "
            f"{teacher['ms_per_10s']:,.0f} ms ({teacher['runtime']})"
        )
    else:
        handles.append(Line2D([], [], color="none"))
        labels.append("no teacher model (labels from a CSV): no line")
    reference = report.get("teacher_architecture")
    if reference:
        latencies.append(reference["ms_per_10s"])
        handles.append(
            axis.axvline(reference["ms_per_10s"], color="C3", ls=":")
        )
        labels.append(
            f"{reference['name']}, {reference['parameters'] / 1e6:.0f}M "
            f"parameters: {reference['ms_per_10s']:,.0f} ms "
            f"({reference['runtime']})"
        )
    # Below the axes: inside, it hides whichever student lands in a corner.
    axis.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        fontsize=8,
        ncol=2,
    )
    axis.set_xscale("log")
    if latencies:
        # Room for the labels right of the points.
        axis.set_xlim(min(latencies) / 1.5, max(latencies) * 3)
    axis.margins(y=0.15)
    # 1-2-5 ticks in plain numbers: the axis may span less than a decade.
    axis.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_xlabel(
        f"onnxruntime int8 latency, ms per {CLIP_SECONDS} s of audio, "
        "1 thread (log scale)"
    )
    axis.set_ylabel("mean CCC vs teacher (Test1)")
    title = "Students: agreement with the teacher against speed"
    if report.get("preset") == "demo":
        title += " (--demo settings; demo corpus figures are not MSP-Podcast)"
    axis.set_title(title, fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
