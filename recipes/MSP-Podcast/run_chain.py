#!/usr/bin/env python3
"""The whole Wav2Small chain on an MSP-Podcast-layout corpus, stage by stage.

    prepare -> fine-tune teacher -> pseudo-label -> distil student (+ test)
    -> export ONNX -> package for the hub -> predict on real speech

Each stage runs the same command a user would run by hand (the recipes'
``train.py``, the ``wav2small`` CLI), so this script is also their
documentation. Every stage skips or resumes work already done.

Real corpus, full-size hyperparameters:
    python run_chain.py --data_folder /data/MSP-Podcast --output_folder results

Demo (tiny teacher, short training; see ``make demo``):
    python run_chain.py --data_folder demo_corpus --output_folder demo_output \\
        --demo

The paper's comparison instead of one student (``make students``): after
the teacher and its labels, every student distilled, tested, exported and
timed, in one table and one plot (``students_table.py``):
    python run_chain.py --data_folder demo_corpus --output_folder demo_output \\
        --demo --students all

Authors
 * speechbrain-wav2small contributors 2026
"""

import argparse
import csv
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from speechbrain_wav2small.cli.common import EXIT_WARNING

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

#: Overrides that shrink the full recipes to a few minutes on two cores.
# The demo teacher is a 2-layer wav2vec2 trained from scratch in about a
# minute: a 25 ms first conv window (pitch is resolvable), 50 frames per
# second, none of wav2vec2's pre-training regularisers (time masking, layer
# drop, dropout), which only slow a tiny model on a small corpus, and random
# 1.5 s crops instead (the demo's labels hold for any part of an utterance).
DEMO_TEACHER = {
    "ssl_source": "null",
    "num_layers": "null",
    "backbone_overrides": json.dumps(
        {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 128,
            "conv_dim": [128, 64],
            "conv_kernel": [400, 3],
            "conv_stride": [160, 2],
            "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 4,
            "apply_spec_augment": False,
            "layerdrop": 0.0,
            "hidden_dropout": 0.0,
            "attention_dropout": 0.0,
            "activation_dropout": 0.0,
            "feat_proj_dropout": 0.0,
            "final_dropout": 0.0,
        }
    ),
    "freeze_feature_encoder": "False",
    "number_of_epochs": "30",
    "batch_size": "16",
    "max_train_seconds": "1.5",
    "lr": "0.002",
    "lr_backbone": "0.002",
    "weight_decay": "0.01",
}
# The demo student: 12 epochs of 2 s crops. Its validation CCC swings by
# 0.1 from epoch to epoch at a steady rate of 1-2e-3, so the rate is cut by
# 0.7 after every epoch that does not improve it (NewBob without patience):
# the last epochs settle instead of running twice as long.
DEMO_DISTILL = {
    "number_of_epochs": "12",
    "max_train_seconds": "2.0",
    "lr": "0.002",
    "lr_annealing_factor": "0.7",
    "lr_patience": "0",
    "augment_prob": "0.0",
    "mixup_alpha": "0.0",
}


def overrides_to_args(overrides):
    """``{"lr": "0.1"}`` -> ``["--lr", "0.1"]`` (SpeechBrain's CLI form);
    values that are not strings are written as JSON.

    Arguments
    ---------
    overrides : dict
        Hyperparameter name -> value (made a string).

    Returns
    -------
    list of str
        Command-line arguments.

    Example
    -------
    >>> overrides_to_args({"lr": "0.1", "number_of_epochs": 2, "x": [1]})
    ['--lr', '0.1', '--number_of_epochs', '2', '--x', '[1]']
    """
    args = []
    for key, value in overrides.items():
        # JSON for the rest: hyperpyyaml reads it (lists, mappings, true).
        text = value if isinstance(value, str) else json.dumps(value)
        args += [f"--{key}", text]
    return args


def run_stage(name, command, log, warning_status=None):
    """Runs one stage as a subprocess; stops the chain if it fails.

    The command runs in this recipe folder, and its wall time is appended
    to ``log``. A stage that did its work with a warning (the commands'
    ``warning_status``: a package written without its int8 copy) does not
    stop the chain; its log entry keeps a ``warning``.

    Arguments
    ---------
    name : str
        The stage's name, printed and logged.
    command : list of str
        The command line.
    log : list of dict
        Receives ``{"stage": name, "seconds": ...}`` (and ``"warning"``).
    warning_status : int, optional
        The exit status by which the command says it did its work with a
        warning (printed on its last ``warning: ...`` line).

    Raises
    ------
    SystemExit
        The command failed.

    Example
    -------
    >>> log = []
    >>> run_stage("check", ["true"], log)
    <BLANKLINE>
    === check
    $ true
    >>> log[0]["stage"]
    'check'
    >>> run_stage("warn", ["sh", "-c", "exit 3"], log, warning_status=3)
    <BLANKLINE>
    === warn
    $ sh -c 'exit 3'
    >>> log[1]["warning"]
    'done with a warning (exit 3): see its output above'
    """
    print(f"\n=== {name}\n$ {shlex.join(command)}", flush=True)
    started = time.time()
    completed = subprocess.run(command, cwd=HERE)
    seconds = time.time() - started
    log.append({"stage": name, "seconds": round(seconds, 1)})
    if warning_status is not None and completed.returncode == warning_status:
        log[-1]["warning"] = (
            f"done with a warning (exit {warning_status}): see its output above"
        )
    elif completed.returncode != 0:
        sys.exit(f"stage '{name}' failed (exit {completed.returncode})")


def main(argv=None):
    """Runs the chain; prints a results table at the end.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        The exit status: 0; 3 (the commands' ``EXIT_WARNING``) when a stage
        did its work with a warning, repeated under the results (a package
        without its int8 copy); a failed stage exits with its message; with
        ``--students``, 1 when a student failed.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--output_folder", default="results/chain")
    parser.add_argument("--student", default="wav2small")
    parser.add_argument(
        "--demo", action="store_true", help="tiny teacher, short training"
    )
    parser.add_argument(
        "--device", default="cpu", help="device for training (cpu, cuda:0)"
    )
    parser.add_argument(
        "--teacher_labels",
        help="CSV of another model's predictions (path or ID, arousal, "
        "dominance, valence on 0..1): distilled instead of fine-tuning and "
        "running a teacher (see 'Distil any teacher' in the README)",
    )
    parser.add_argument(
        "--accept_weak_teacher",
        action="store_true",
        help="continue when the weak-teacher guard stops the chain; the "
        "results then carry a warning",
    )
    parser.add_argument(
        "--students",
        help="'all' or comma-separated student names (or YAML paths): "
        "instead of one student, distil, test, export and time each from "
        "the same labels, with its own settings (the 'training' block of "
        "its YAML), and write students.json, students.md and students.png",
    )
    parser.add_argument(
        "--distill_overrides",
        type=json.loads,
        default={},
        help="JSON of distil/train.py hyperparameters over the chain's "
        "own (and, with --students, over each student's settings), e.g. "
        "'{\"max_train_seconds\": 4.0}'",
    )
    parser.add_argument(
        "--predict",
        nargs="*",
        default=[],
        help="audio files or folders to predict on at the end",
    )
    args = parser.parse_args(argv)
    if args.students:
        # Imports PyTorch, which the other stages need only in their own
        # processes; refuses unknown students before any stage runs.
        from students_table import parse_students, run_students

        students = parse_students(args.students)
    python = sys.executable
    data = str(Path(args.data_folder).resolve())
    out = Path(args.output_folder).resolve()
    prep, labels = out / "prep", out / "labels"
    teacher_out = out / "teacher"
    teacher_folder = teacher_out / "teacher"
    distill_out = out / "distill"
    common = ["--device", args.device, "--prep_folder", str(prep)]
    if args.accept_weak_teacher:
        common += ["--accept_weak_teacher", "True"]
    stages = []

    run_stage(
        "prepare",
        [python, "msp_podcast_prepare.py", data, str(prep)],
        stages,
    )
    if args.teacher_labels:
        # Another model's predictions replace the teacher and the labeller.
        teacher_args = [
            "--teacher_labels",
            str(Path(args.teacher_labels).resolve()),
        ]
    else:
        teacher_overrides = DEMO_TEACHER if args.demo else {}
        # The teacher recipe's weak-teacher guard fails this stage (so the
        # chain stops before labelling) unless --accept_weak_teacher.
        run_stage(
            "fine-tune teacher",
            [python, "teacher/train.py", "teacher/hparams/train_dawn.yaml"]
            + ["--data_folder", data, "--output_folder", str(teacher_out)]
            + ["--teacher_folder", str(teacher_folder)]
            + common
            + overrides_to_args(teacher_overrides),
            stages,
        )
        for split in ("Train", "Development", "Test1"):
            run_stage(
                f"pseudo-label {split}",
                [python, "-m", "speechbrain_wav2small.cli", "label"]
                + ["--teacher", "dawn"]
                + ["--teacher_source", str(teacher_folder)]
                + ["--manifest", str(prep / f"{split}.csv")]
                + ["--out", str(labels / f"{split}.csv")],
                stages,
            )
        teacher_args = ["--teacher_hparams", "dawn"]
        teacher_args += ["--teacher_source", str(teacher_folder)]
    if args.students:
        return run_students(
            students,
            out,
            [python, "distill/train.py", "distill/hparams/distill.yaml"]
            + ["--data_folder", data, "--label_folder", str(labels)]
            + teacher_args
            + common,
            preset="demo" if args.demo else "full",
            base_overrides=DEMO_DISTILL if args.demo else {},
            extra_overrides=args.distill_overrides,
            teacher_folder=None if args.teacher_labels else teacher_folder,
            command=shlex.join(
                ["python", "run_chain.py", *(argv or sys.argv[1:])]
            ),
            cwd=HERE,
        )
    distill_overrides = {
        **(DEMO_DISTILL if args.demo else {}),
        **args.distill_overrides,
    }
    run_stage(
        f"distil {args.student}",
        [python, "distill/train.py", "distill/hparams/distill.yaml"]
        + ["--data_folder", data, "--output_folder", str(distill_out)]
        + ["--student", args.student, "--label_folder", str(labels)]
        + teacher_args
        + common
        + overrides_to_args(distill_overrides),
        stages,
    )
    results = json.loads((distill_out / "results.json").read_text())
    # The int8 check of the package needs held-out speech: Development.
    with open(prep / "Development.csv", newline="", encoding="utf-8") as f:
        held_out = [row["wav"] for row in csv.DictReader(f)][:64]
    package = out / "package"
    if (package / "hyperparams.yaml").is_file():
        print(f"\n=== package: {package} exists; keeping it")
    else:
        run_stage(
            "package for the hub",
            [python, "-m", "speechbrain_wav2small.cli", "package"]
            + ["--checkpoint", results["checkpoint"]]
            + ["--student", args.student, "--out", str(package)]
            + ["--results", str(distill_out / "results.json")]
            + ["--held-out", *held_out],
            stages,
            # A float-only package (its int8 copy failed the accuracy gate)
            # is a complete package: predict with it, and say so at the end.
            warning_status=EXIT_WARNING,
        )
    inputs = args.predict or [str(REPO / "tests" / "data")]
    run_stage(
        "predict on real speech",
        [python, "-m", "speechbrain_wav2small.cli", "predict", *inputs]
        + ["--model", str(package), "--out", str(out / "predictions.csv")],
        stages,
    )
    print_results(teacher_out, distill_out, stages)
    print(
        f"\nPackaged model: {package}\nPredictions: {out / 'predictions.csv'}"
    )
    return EXIT_WARNING if any("warning" in s for s in stages) else 0


def print_results(teacher_out, distill_out, stages):
    """Prints the chain's results (teacher and student CCC, timings).

    Arguments
    ---------
    teacher_out : pathlib.Path
        Output folder of the teacher recipe (its ``results.json``).
    distill_out : pathlib.Path
        Output folder of the distillation recipe (its ``results.json``).
    stages : list of dict
        The stage log of :func:`run_stage`.
    """
    teacher_file = teacher_out / "results.json"
    # Without a fine-tuned teacher (--teacher_labels) there is no file.
    teacher = (
        json.loads(teacher_file.read_text()) if teacher_file.is_file() else {}
    )
    student = json.loads((distill_out / "results.json").read_text())
    dims = ("arousal", "dominance", "valence")
    rows = [
        ("teacher vs human", teacher.get("ccc_vs_human_test1")),
        ("student vs human", student["ccc_vs_human"]),
        ("student vs teacher", student["ccc_vs_teacher"]),
    ]
    rows = [(name, stats) for name, stats in rows if stats]
    sizes = student.get("onnx_bytes", {})
    print(
        f"\n=== {student['student']}: {student['parameters']:,} parameters; "
        + ", ".join(f"{name} {size:,} B" for name, size in sizes.items())
    )
    print("\n=== Results on the test split (CCC)")
    print(
        f"{'':<20} {'arousal':>8} {'dominance':>10} {'valence':>8} {'mean':>6}"
    )
    for name, stats in rows:
        values = [stats[f"ccc_{d}"] for d in dims]
        print(
            f"{name:<20} {values[0]:>8.3f} {values[1]:>10.3f} "
            f"{values[2]:>8.3f} {stats['ccc']:>6.3f}"
        )
    # An accepted weak teacher must not go unnoticed in the final table.
    for name, results in (("teacher", teacher), ("distillation", student)):
        if results.get("warning"):
            print(f"\n=== WARNING ({name}): {results['warning']}")
    for stage in stages:
        if stage.get("warning"):
            print(f"\n=== WARNING ({stage['stage']}): {stage['warning']}")
    print("\n=== Time per stage")
    for stage in stages:
        print(f"{stage['stage']:<28} {stage['seconds']:>7.1f} s")


if __name__ == "__main__":
    sys.exit(main())
