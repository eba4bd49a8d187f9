"""What the ``wav2small`` subcommands share: options and error handling.

A user error (a missing file, a bad option value, a float model that
failed its export check) ends a command with one ``error: ...`` line and
exit status 1, never a traceback; :func:`reports_user_errors` does that
for a ``run``. A command that did its work but warns about part of it
ends with one ``warning: ...`` line and :data:`EXIT_WARNING` (3): an
export or package written without its int8 file because the int8 copy
failed its accuracy gate (:func:`export_exit_status`).

Importing this module loads neither torch nor SpeechBrain: the export
layer and the students are imported by the functions that need them, so
that a torch-free command (``predict`` on an ONNX model) can use it.

Authors
 * speechbrain-wav2small contributors 2026
"""

import functools
import json
import sys

from speechbrain_wav2small.dataio.audio import AudioError
from speechbrain_wav2small.utils.model_files import FLOAT_FILE, INT8_FILE

#: Errors reported as one line (exit status 1) instead of a traceback; a
#: command adds those of the layer it calls (``ExportError``...).
USER_ERRORS = (
    AudioError,
    FileExistsError,
    FileNotFoundError,
    NotADirectoryError,
    ValueError,
)

#: Exit status of a command that did its work with a warning: the float
#: model was written without its int8 copy, which failed its gate.
EXIT_WARNING = 3

#: The exit statuses of the commands that write ONNX files (their epilog).
EXPORT_EXIT_STATUS = (
    "Exit status: 0 done; 1 error, nothing written (this includes a float "
    f"model that fails its check); {EXIT_WARNING} done with a warning: "
    f"{FLOAT_FILE} was written but not {INT8_FILE}, because the int8 copy "
    "failed its accuracy gate (the gate and its figures are printed and "
    "recorded in the export report and the model card). With "
    "--quantization none no int8 file is made and the status is 0."
)


def reports_user_errors(*extra, prefix="error"):
    """Decorates a subcommand's ``run``: user errors become one line.

    Arguments
    ---------
    *extra : type
        More exception types to treat as user errors.
    prefix : str
        What the error line starts with.

    Returns
    -------
    callable
        The decorator.

    Example
    -------
    >>> @reports_user_errors()
    ... def run(args):
    ...     raise FileNotFoundError("speech.wav does not exist")
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     status = run(None)
    >>> status, err.getvalue()
    (1, 'error: speech.wav does not exist\\n')
    """
    errors = USER_ERRORS + extra

    def decorate(run):
        """Wraps ``run`` so that user errors end it with status 1."""

        @functools.wraps(run)
        def checked(args):
            """Runs the command; a user error prints one line, returns 1."""
            try:
                return run(args)
            except errors as error:
                print(f"{prefix}: {error}", file=sys.stderr)
                return 1

        return checked

    return decorate


def add_checkpoint_arguments(parser):
    """--checkpoint, --student, --overrides: a trained student's files.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_checkpoint_arguments(parser)
    >>> parser.parse_args(["--checkpoint", "CKPT", "--student", "x"]).student
    'x'
    """
    from speechbrain_wav2small.students import STUDENTS

    parser.add_argument(
        "--checkpoint",
        required=True,
        help="SpeechBrain checkpoint folder (CKPT+...) holding model.ckpt, "
        "or a .ckpt file",
    )
    parser.add_argument(
        "--student",
        required=True,
        help=f"student YAML, or one of: {', '.join(STUDENTS)}",
    )
    parser.add_argument(
        "--overrides",
        help="YAML overrides the student was trained with, "
        'e.g. "{channels: 8}"',
    )


def add_held_out_argument(parser):
    """--held-out: real audio for the int8 gate of an export.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_held_out_argument(parser)
    >>> parser.parse_args(["--held_out", "a.wav", "dev/"]).held_out
    ['a.wav', 'dev/']
    """
    parser.add_argument(
        "--held-out",
        "--held_out",
        dest="held_out",
        nargs="+",
        metavar="AUDIO",
        help="held-out audio files or folders for the int8 check (real "
        "speech, dozens of clips); the package's reference speech when "
        "omitted",
    )


def add_overwrite_argument(
    parser, what="the model files in a non-empty --out (other files stay)"
):
    """--overwrite: replace ``what``.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    what : str
        What the option replaces, for its help text.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_overwrite_argument(parser, "an existing package")
    >>> parser.parse_args(["--overwrite"]).overwrite
    True
    """
    parser.add_argument(
        "--overwrite", action="store_true", help=f"replace {what}"
    )


def add_export_arguments(parser):
    """Options of the ONNX export (``export`` and ``package``).

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_export_arguments(parser)
    >>> parser.parse_args([]).quantization
    'auto'
    """
    add_held_out_argument(parser)
    parser.add_argument(
        "--teacher-fingerprint",
        "--teacher_fingerprint",
        dest="teacher_fingerprint",
        help="teacher fingerprint, or the label cache's .teacher.json sidecar",
    )
    add_quantization_arguments(parser)
    add_overwrite_argument(parser)


def add_quantization_arguments(parser):
    """--quantization and --int8-min-ccc: the int8 model of an export
    (``export``, ``package`` and ``import-audeering``); also sets the
    parser's epilog to :data:`EXPORT_EXIT_STATUS`.

    The choices and their meaning come from
    :mod:`speechbrain_wav2small.export.quantization`.

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_quantization_arguments(parser)
    >>> args = parser.parse_args(["--quantization", "none"])
    >>> export_options(args)
    {'quantization': 'none', 'min_ccc': 0.999}
    """
    from speechbrain_wav2small.export.gates import MIN_CCC
    from speechbrain_wav2small.export.quantization import (
        DEFAULT_QUANTIZATION,
        QUANTIZATION_MODES,
        modes_help,
    )

    parser.add_argument(
        "--quantization",
        choices=QUANTIZATION_MODES,
        default=DEFAULT_QUANTIZATION,
        help=f"int8 model (default {DEFAULT_QUANTIZATION}): {modes_help()}",
    )
    parser.add_argument(
        "--int8-min-ccc",
        "--int8_min_ccc",
        dest="int8_min_ccc",
        type=float,
        default=MIN_CCC,
        metavar="CCC",
        help="int8 gate: lowest int8-vs-float CCC accepted per dimension on "
        f"the held-out audio (default {MIN_CCC}); an int8 copy below it is "
        f"not written (exit status {EXIT_WARNING})",
    )
    parser.epilog = EXPORT_EXIT_STATUS


def export_options(args):
    """The ``export_onnx`` options of --quantization and --int8-min-ccc.

    Arguments
    ---------
    args : argparse.Namespace
        Options parsed by a parser given :func:`add_quantization_arguments`.

    Returns
    -------
    dict
        ``quantization`` and ``min_ccc``.

    Example
    -------
    >>> import argparse
    >>> export_options(
    ...     argparse.Namespace(quantization="weights", int8_min_ccc=0.99))
    {'quantization': 'weights', 'min_ccc': 0.99}
    """
    return {"quantization": args.quantization, "min_ccc": args.int8_min_ccc}


def export_exit_status(report, stream=None):
    """The exit status of a command that wrote the export ``report``:
    :data:`EXIT_WARNING`, with a ``warning: ...`` line naming the failed
    gate and its figures, when the int8 copy was refused; 0 otherwise.

    Arguments
    ---------
    report : dict
        The report of :func:`speechbrain_wav2small.export.export_onnx`.
    stream : io.TextIOBase, optional
        Where the warning goes (standard error by default).

    Returns
    -------
    int

    Example
    -------
    >>> import io
    >>> stream = io.StringIO()
    >>> export_exit_status({"int8_outcome": "refused",
    ...                     "no_int8_reason": "no int8 file, because ..."},
    ...                    stream)
    3
    >>> print(stream.getvalue(), end="")
    warning: model.onnx written, no int8 file, because ...
    >>> export_exit_status({"int8_outcome": "written"})
    0
    """
    from speechbrain_wav2small.export.onnx_export import INT8_REFUSED

    if report.get("int8_outcome") != INT8_REFUSED:
        return 0
    print(
        f"warning: {FLOAT_FILE} written, {report['no_int8_reason']}",
        file=stream or sys.stderr,
    )
    return EXIT_WARNING


def add_package_arguments(parser):
    """Model-card options (``package`` and ``import-audeering``).

    Arguments
    ---------
    parser : argparse.ArgumentParser
        The subcommand's parser.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_package_arguments(parser)
    >>> parser.parse_args(["--repo_id", "me/wav2small"]).repo_id
    'me/wav2small'
    """
    parser.add_argument(
        "--results",
        help="the recipe's results JSON (CCC per dimension vs human and vs "
        "teacher) for the card's metrics table",
    )
    parser.add_argument(
        "--repo-id",
        "--repo_id",
        dest="repo_id",
        help="hub id the folder will be uploaded to (usage snippet)",
    )


def teacher_from_args(args):
    """(fingerprint, description) from --teacher-fingerprint.

    A path to a label cache sidecar (JSON with ``fingerprint``) gives both.

    Arguments
    ---------
    args : argparse.Namespace
        Parsed options with ``teacher_fingerprint`` (a fingerprint, a
        ``.json`` sidecar path, or ``None``).

    Returns
    -------
    tuple
        (fingerprint or ``None``, description or ``None``).

    Raises
    ------
    ValueError
        The sidecar has no ``fingerprint`` entry.

    Example
    -------
    >>> import argparse
    >>> teacher_from_args(argparse.Namespace(teacher_fingerprint="ab12"))
    ('ab12', None)
    """
    value = args.teacher_fingerprint
    if not value or not value.endswith(".json"):
        return value, None
    with open(value, encoding="utf-8") as stream:
        sidecar = json.load(stream)
    if "fingerprint" not in sidecar:
        raise ValueError(f"{value} has no 'fingerprint' entry")
    name = sidecar.get("name")
    source = sidecar.get("source")
    description = ", ".join(str(part) for part in (name, source) if part)
    return sidecar["fingerprint"], description or None


def print_export(report, stream=None):
    """Prints the sizes and check figures of an export report.

    Arguments
    ---------
    report : dict
        An export report with ``bytes``, ``parity``, ``int8_ccc`` (None
        without an int8 file, whose ``no_int8_reason`` is then printed)
        and ``held_out_items``.
    stream : io.TextIOBase, optional
        Where to print (standard output by default).

    Example
    -------
    >>> print_export({
    ...     "bytes": {"model.onnx": 2000},
    ...     "parity": {"max_abs_diff": 1e-6, "tolerance": 1e-4},
    ...     "int8_ccc": {"arousal": 0.9999},
    ...     "held_out_items": 26,
    ... })
    model.onnx                2,000 bytes (2.0 KB)
    float vs PyTorch   max abs diff 1e-06 (tolerance 0.0001)
    int8 vs float CCC  arousal 0.99990 (26 clips)
    """
    stream = stream or sys.stdout
    for name, size in report["bytes"].items():
        print(
            f"{name:<18} {size:>12,} bytes ({size / 1000:.1f} KB)", file=stream
        )
    parity = report["parity"]
    print(
        f"float vs PyTorch   max abs diff {parity['max_abs_diff']:.2g} "
        f"(tolerance {parity['tolerance']:g})",
        file=stream,
    )
    if not report["int8_ccc"]:
        print(report["no_int8_reason"], file=stream)
        return
    ccc = ", ".join(f"{k} {v:.5f}" for k, v in report["int8_ccc"].items())
    print(
        f"int8 vs float CCC  {ccc} ({report['held_out_items']} clips)",
        file=stream,
    )
