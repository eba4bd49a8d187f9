"""Package a trained student as a folder ready to upload to a model hub.

Writes hyperparams.yaml (modules + pretrainer), model.ckpt, model.onnx,
model.int8.onnx (checked, see `wav2small export`), export.json (with what
each model file predicts on shipped speech, on silence and on noise), a
README model card (front matter, metrics from --results, usage, what the
numbers mean, licence, teacher provenance) and, last, checksums.sha256
(`sha256sum -c` format; `wav2small push` checks it). The folder loads
offline with EmotionDimensions.from_hparams(source=DIR). A non-empty --out
is refused unless --overwrite, which replaces only the package's files
(other files in --out stay). An int8 copy that fails its check is left
out (the card and export.json say why) and the folder written without it,
with a warning (exit status 3).
"""

from speechbrain_wav2small.cli.common import (
    add_checkpoint_arguments,
    add_export_arguments,
    add_package_arguments,
    export_exit_status,
    export_options,
    print_export,
    reports_user_errors,
    teacher_from_args,
)
from speechbrain_wav2small.export import ExportError
from speechbrain_wav2small.packaging.model_card import DEFAULT_LICENSE
from speechbrain_wav2small.packaging.package import package_checkpoint


def add_arguments(parser):
    """Adds this subcommand's options."""
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", required=True, help="folder to write")
    add_export_arguments(parser)
    add_package_arguments(parser)
    parser.add_argument(
        "--teacher", help="teacher description for the model card"
    )
    parser.add_argument(
        "--license",
        default=DEFAULT_LICENSE,
        help=f"licence identifier for the card (default {DEFAULT_LICENSE})",
    )


@reports_user_errors(ExportError)
def run(args):
    """Packages; returns the exit status."""
    fingerprint, description = teacher_from_args(args)
    report = package_checkpoint(
        args.checkpoint,
        args.student,
        args.out,
        overrides=args.overrides,
        results=args.results,
        teacher_fingerprint=fingerprint,
        teacher=args.teacher or description,
        held_out_wavs=args.held_out,
        overwrite=args.overwrite,
        license=args.license,
        repo_id=args.repo_id,
        export_options=export_options(args),
    )
    print(f"packaged in {report['out_dir']}:")
    for path in report["files"].values():
        print(f"  {path}")
    print_export(report["export"])
    return export_exit_status(report["export"])
