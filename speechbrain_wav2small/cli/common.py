"""What the ``wav2small`` subcommands share: options and error handling.

A user error (a missing file, a bad option value, a gate that refused an
export) ends a command with one ``error: ...`` line and exit status 1,
never a traceback; :func:`reports_user_errors` does that for a ``run``.

Authors
 * speechbrain-wav2small contributors 2026
"""

import functools
import json
import sys

from speechbrain_wav2small.dataio.audio import AudioError
from speechbrain_wav2small.export.quantization import QUANTIZATION_MODES
from speechbrain_wav2small.students import STUDENTS

#: Errors reported as one line (exit status 1) instead of a traceback; a
#: command adds those of the layer it calls (``ExportError``...).
USER_ERRORS = (
    AudioError,
    FileExistsError,
    FileNotFoundError,
    NotADirectoryError,
    ValueError,
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


def add_overwrite_argument(parser, what="an existing export"):
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
    parser.add_argument(
        "--quantization",
        choices=QUANTIZATION_MODES,
        default="auto",
        help="int8 model: 'static' (calibrated int8 activations and "
        "kernels, Wav2Small only), 'weights' (int8 weights, float "
        "arithmetic), 'dynamic' (onnxruntime's dynamic int8); 'auto' "
        "(default): static for Wav2Small given --held-out audio, falling "
        "back to weights if it fails the accuracy gate; weights otherwise",
    )
    add_overwrite_argument(parser)


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
        An export report with ``bytes``, ``parity``, ``int8_ccc`` and
        ``held_out_items``.
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
    ccc = ", ".join(f"{k} {v:.5f}" for k, v in report["int8_ccc"].items())
    print(
        f"int8 vs float CCC  {ccc} ({report['held_out_items']} clips)",
        file=stream,
    )
