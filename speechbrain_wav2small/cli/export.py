"""Export a trained student checkpoint to ONNX (float and int8).

Writes model.onnx and model.int8.onnx into --out after checking them:
onnxruntime float vs PyTorch (max abs diff <= 1e-4 at 0.5/3/10/30 s, batch
1 and 3) and int8 vs float (CCC >= 0.999 per dimension on --held-out
audio). Nothing is written when a check fails. Prints the file sizes and
the check figures; --report also saves them as JSON.
"""

import json
import sys

from speechbrain_wav2small.dataio.audio import AudioError
from speechbrain_wav2small.export import ExportError, export_onnx
from speechbrain_wav2small.packaging import load_checkpoint
from speechbrain_wav2small.students import STUDENTS, load_student_hparams

HELP = "export a student checkpoint to model.onnx and model.int8.onnx"

#: Errors reported as one line (exit status 1) instead of a traceback.
USER_ERRORS = (
    AudioError,
    ExportError,
    FileExistsError,
    FileNotFoundError,
    NotADirectoryError,
    ValueError,
)


def add_checkpoint_arguments(parser):
    """--checkpoint, --student, --overrides (shared with ``package``)."""
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


def add_export_arguments(parser):
    """Options of the ONNX export (shared with ``package``)."""
    parser.add_argument(
        "--held-out",
        "--held_out",
        dest="held_out",
        nargs="+",
        metavar="AUDIO",
        help="held-out audio files or folders for the int8 check (real "
        "speech, dozens of clips); synthetic signals when omitted",
    )
    parser.add_argument(
        "--teacher-fingerprint",
        "--teacher_fingerprint",
        dest="teacher_fingerprint",
        help="teacher fingerprint, or the label cache's .teacher.json sidecar",
    )
    parser.add_argument(
        "--quantization",
        choices=("auto", "static", "weights", "dynamic"),
        default="auto",
        help="int8 model: 'static' (calibrated int8 activations and "
        "kernels, Wav2Small only), 'weights' (int8 weights, float "
        "arithmetic), 'dynamic' (onnxruntime's dynamic int8); 'auto' "
        "(default): static for Wav2Small given --held-out audio, falling "
        "back to weights if it fails the accuracy gate; weights otherwise",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing export"
    )


def teacher_from_args(args):
    """(fingerprint, description) from --teacher-fingerprint.

    A path to a label cache sidecar (JSON with ``fingerprint``) gives both.
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
    """Sizes and check figures of an export report, one per line."""
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


def add_arguments(parser):
    """Adds this subcommand's options."""
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", required=True, help="output folder")
    add_export_arguments(parser)
    parser.add_argument("--report", help="also write the figures as JSON here")


def run(args):
    """Exports; returns the exit status."""
    try:
        hparams = load_student_hparams(args.student, args.overrides)
        model = hparams["model"]
        load_checkpoint(model, args.checkpoint)
        fingerprint, _ = teacher_from_args(args)
        report = export_onnx(
            model,
            args.out,
            hparams.get("student_name", str(args.student)),
            teacher_fingerprint=fingerprint,
            held_out_wavs=args.held_out,
            overwrite=args.overwrite,
            quantization=args.quantization,
        )
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_export(report)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as stream:
            json.dump(report, stream, indent=2)
    return 0
