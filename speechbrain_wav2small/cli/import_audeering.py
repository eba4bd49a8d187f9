"""Convert the authors' released Wav2Small into a packaged model.

SRC is audEERING's Wav2Small release: a folder with model.safetensors or
pytorch_model.bin (keys vgg7.l1..l7, vgg7.lin, vgg7.sof, the stored front
end, adv), the weights file itself, or the hub id of a repository holding
it (owner/name, or owner/name@REVISION for a branch, tag or commit; fetched
into the huggingface_hub cache, read from it with HF_HUB_OFFLINE=1). Its
DFT rows and mel filterbank must equal what this package computes; keys or
shapes that do not fit are refused by name. The result is a folder like
`wav2small package` writes, whose outputs equal the original model's; as
there, an int8 copy that fails its check is left out (the card and export.json say why) and the
folder written without it, with a warning (exit status 3).
"""

from speechbrain_wav2small.cli.common import (
    add_held_out_argument,
    add_overwrite_argument,
    add_package_arguments,
    add_quantization_arguments,
    export_exit_status,
    export_options,
    print_export,
    reports_user_errors,
)
from speechbrain_wav2small.export import ExportError
from speechbrain_wav2small.packaging.audeering import import_audeering


def add_arguments(parser):
    """Adds this subcommand's options."""
    parser.add_argument(
        "source",
        metavar="SRC",
        help="release folder or file, or hub id (owner/name[@REVISION])",
    )
    parser.add_argument("--out", required=True, help="folder to write")
    add_held_out_argument(parser)
    add_quantization_arguments(parser)
    add_package_arguments(parser)
    add_overwrite_argument(parser)


@reports_user_errors(ExportError)
def run(args):
    """Imports; returns the exit status."""
    report = import_audeering(
        args.source,
        args.out,
        overwrite=args.overwrite,
        held_out_wavs=args.held_out,
        results=args.results,
        repo_id=args.repo_id,
        export_options=export_options(args),
    )
    source = report["import"]
    weights = source["source"]
    if weights != args.source:
        weights = f"{args.source} ({weights})"
    print(f"imported {weights} (sha256 {source['sha256'][:16]}...)")
    print(
        "front end matches: DFT max abs diff "
        f"{source['dft_max_abs_diff']:.2g}, mel max abs diff "
        f"{source['mel_max_abs_diff']:.2g}"
    )
    print(f"packaged in {report['out_dir']}")
    print_export(report["export"])
    return export_exit_status(report["export"])
