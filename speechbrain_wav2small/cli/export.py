"""Export a trained student checkpoint to ONNX (float and int8).

Writes model.onnx and model.int8.onnx into --out after checking them:
onnxruntime float vs PyTorch (max abs diff <= 1e-4 at 0.5/3/10/30 s, batch
1, and at 0.5/3/10 s, padded batch of 3) and int8 vs float (CCC >= --int8-min-ccc, 0.999 by default, per
dimension on --held-out audio, or on the speech shipped with the package).
Nothing is written when the float check fails; an int8 copy that fails its
check is left out and the float model written alone, with a warning (exit
status 3). Prints the file sizes and the check figures; --report also
saves them as JSON.
"""

import json

from speechbrain_wav2small.cli.common import (
    add_checkpoint_arguments,
    add_export_arguments,
    export_exit_status,
    export_options,
    print_export,
    reports_user_errors,
    teacher_from_args,
)
from speechbrain_wav2small.export import ExportError, export_onnx
from speechbrain_wav2small.packaging.checkpoint import load_checkpoint
from speechbrain_wav2small.students import load_student_hparams
from speechbrain_wav2small.utils.durable import atomic_write


def add_arguments(parser):
    """Adds this subcommand's options."""
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", required=True, help="output folder")
    add_export_arguments(parser)
    parser.add_argument("--report", help="also write the figures as JSON here")


@reports_user_errors(ExportError)
def run(args):
    """Exports; returns the exit status."""
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
        **export_options(args),
    )
    print_export(report)
    if args.report:
        atomic_write(args.report, json.dumps(report, indent=2))
    return export_exit_status(report)
