"""List the six students with their size and cost, counted on the model.

Prints one row per student: trainable parameters and multiply-accumulates
per second of 16 kHz audio (convolutions and matrix products, counted by
PyTorch's FLOP counter), plus the YAML file that defines it.
"""

import json

from speechbrain_wav2small.students import (
    STUDENTS,
    build_student,
    student_hparams_file,
)
from speechbrain_wav2small.utils.complexity import count_macs, count_parameters


def add_arguments(parser):
    """Adds this subcommand's options: student names and ``--json``.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["wav2small", "--json"])
    Namespace(names=['wav2small'], json=True)
    """
    parser.add_argument(
        "names",
        nargs="*",
        default=list(STUDENTS),
        help="students to describe (default: all six)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of a table"
    )


def describe(name):
    """Size and cost of one student, built with random weights.

    Arguments
    ---------
    name : str
        A name from :data:`~speechbrain_wav2small.students.STUDENTS` or a
        path to a student YAML.

    Returns
    -------
    dict
        ``student``, ``parameters`` (trainable), ``macs_per_second`` (of
        16 kHz audio) and ``hparams`` (the YAML's path).
    """
    model = build_student(name)
    return {
        "student": name,
        "parameters": count_parameters(model),
        "macs_per_second": count_macs(model, seconds=1.0),
        "hparams": str(student_hparams_file(name)),
    }


def run(args):
    """Prints the table (or JSON) of the students in ``args.names``.

    Arguments
    ---------
    args : argparse.Namespace
        Parsed options (see :func:`add_arguments`).

    Returns
    -------
    int
        The exit status (0).
    """
    rows = [describe(name) for name in args.names]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'student':<25} {'parameters':>12} {'MMAC/s':>10}")
    for row in rows:
        print(
            f"{row['student']:<25} {row['parameters']:>12,} "
            f"{row['macs_per_second'] / 1e6:>10.1f}"
        )
    return 0
