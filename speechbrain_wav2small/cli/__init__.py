"""The ``wav2small`` command line.

Each subcommand lives in its own module under this package and exposes
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``
(the exit status). Register it in :data:`COMMANDS`.

Authors
 * speechbrain-wav2small contributors 2026
"""

import argparse
import importlib
import logging
import sys

from speechbrain_wav2small.version import __version__

#: Subcommand name -> module under ``speechbrain_wav2small.cli``.
COMMANDS = {
    "students": "students",
    "label": "label",
    "export": "export",
    "package": "package",
    "import-audeering": "import_audeering",
    "predict": "predict",
}


def build_parser():
    """The argument parser with every registered subcommand.

    Each subcommand's ``run`` is stored as the ``run`` default of its
    parsed arguments. Building it imports every subcommand module, and with
    them every layer of the package.

    Returns
    -------
    argparse.ArgumentParser
        The ``wav2small`` parser.
    """
    parser = argparse.ArgumentParser(
        prog="wav2small",
        description="Tiny speech-emotion students (arousal, dominance, "
        "valence) distilled from large teachers.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"{__name__}.{module_name}")
        subparser = subparsers.add_parser(
            name, help=module.HELP, description=module.__doc__
        )
        module.add_arguments(subparser)
        subparser.set_defaults(run=module.run)
    return parser


def main(argv=None):
    """Entry point of the ``wav2small`` console script.

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
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
