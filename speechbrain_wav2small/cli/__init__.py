"""The ``wav2small`` command line.

Each subcommand lives in its own module under this package and exposes
``add_arguments(parser)`` and ``run(args) -> int`` (the exit status); its
docstring is the subcommand's description. Register it in
:data:`COMMANDS`, which holds its one-line help: the table is the only
home of that line, so that ``wav2small --help`` lists every subcommand
without importing any.

Only the module of the subcommand named on the command line is imported:
``wav2small predict --model model.int8.onnx`` then loads onnxruntime and
never torch or SpeechBrain, which the other subcommands need.

Authors
 * speechbrain-wav2small contributors 2026
"""

import argparse
import importlib
import logging
import re
import sys
from typing import NamedTuple

from speechbrain_wav2small.version import __version__


class Command(NamedTuple):
    """A subcommand: its module under this package and its one-line help."""

    module: str
    help: str


#: Subcommand name -> :class:`Command`, in the order ``--help`` lists them.
COMMANDS = {
    "students": Command(
        "students", "list the students: parameters, MACs per second, YAML"
    ),
    "label": Command(
        "label", "label audio with a teacher (resumable, multi-process)"
    ),
    "export": Command(
        "export",
        "export a student checkpoint to model.onnx (and model.int8.onnx)",
    ),
    "package": Command(
        "package",
        "package a student checkpoint for the model hub (YAML, ckpt, ONNX, "
        "card)",
    ),
    "push": Command("push", "upload a package folder to the model hub"),
    "import-audeering": Command(
        "import_audeering",
        "convert the authors' published Wav2Small checkpoint to a package",
    ),
    "predict": Command(
        "predict",
        "predict arousal, dominance, valence for audio files and folders",
    ),
    "stream": Command(
        "stream",
        "live arousal, dominance, valence from a microphone, standard input "
        "or a file",
    ),
    "serve-web": Command("serve_web", "serve the live microphone web page"),
}

# What argparse takes for a positional value although it starts with "-"
# (its own rule for a parser without options that look like numbers).
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")

# The top-level options that end the parse where they stand (argparse
# accepts any unambiguous prefix of a long option).
_EXITING_OPTIONS = ("--help", "--version")


def find_command(argv):
    """The subcommand that ``argv`` names, as argparse would find it.

    The top-level parser has only flags (``--help``, ``--version``), so the
    subcommand is the first argument that is not one; none is needed when
    ``--help`` or ``--version`` comes first, since argparse stops there.

    Arguments
    ---------
    argv : list of str
        The command-line arguments, without the program name.

    Returns
    -------
    str or None
        A key of :data:`COMMANDS`, or ``None`` when the first positional
        argument is missing or is no subcommand (argparse then reports it).

    Example
    -------
    >>> find_command(["predict", "a.wav", "--model", "m.onnx"])
    'predict'
    >>> find_command(["--help", "predict"]), find_command(["predict-all"])
    (None, None)
    """
    for index, token in enumerate(argv):
        if token == "-h" or (
            len(token) > 2
            and any(option.startswith(token) for option in _EXITING_OPTIONS)
        ):
            return None
        if token == "--":
            rest = argv[index + 1 : index + 2]
            token = rest[0] if rest else None
        elif (
            token.startswith("-")
            and token != "-"
            and not _NEGATIVE_NUMBER.match(token)
        ):
            continue
        return token if token in COMMANDS else None
    return None


def build_parser(commands=None):
    """The argument parser of ``wav2small``.

    Every subcommand in :data:`COMMANDS` is listed with its help; only
    those in ``commands`` get their options, their description and their
    ``run`` (stored as the ``run`` default of the parsed arguments), and
    only their modules are imported.

    Arguments
    ---------
    commands : iterable of str, optional
        Keys of :data:`COMMANDS` to build in full; all of them by default,
        which imports every layer of the package.

    Returns
    -------
    argparse.ArgumentParser
        The ``wav2small`` parser.

    Example
    -------
    >>> parser = build_parser(commands=[])
    >>> "predict" in parser.format_help()
    True
    """
    selected = set(COMMANDS if commands is None else commands)
    parser = argparse.ArgumentParser(
        prog="wav2small",
        description="Tiny speech-emotion students (arousal, dominance, "
        "valence) distilled from large teachers.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        if name not in selected:
            subparsers.add_parser(name, help=command.help)
            continue
        module = importlib.import_module(f"{__name__}.{command.module}")
        subparser = subparsers.add_parser(
            name, help=command.help, description=module.__doc__
        )
        module.add_arguments(subparser)
        subparser.set_defaults(run=module.run)
    return parser


def main(argv=None):
    """Entry point of the ``wav2small`` console script.

    Imports only the module of the subcommand that ``argv`` names (see
    :func:`find_command`).

    Arguments
    ---------
    argv : list of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        The subcommand's exit status.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    command = find_command(argv)
    parser = build_parser(commands=[command] if command else [])
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
