"""``wav2small`` imports only what its subcommand uses.

``wav2small predict`` on an ONNX model runs on onnxruntime alone: the real
entry point (``python -m speechbrain_wav2small.cli``) runs in a fresh
process on a 3 s file, which then lists the modules it imported. The
top-level help lists every subcommand without importing any.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import soundfile as sf
from conftest import DATA
from fitted_students import packaged_wav2small

from speechbrain_wav2small import DIMENSIONS, __version__
from speechbrain_wav2small.cli import (
    COMMANDS,
    build_parser,
    find_command,
    main,
)
from speechbrain_wav2small.inference import OnnxEmotionDimensions

REPO = Path(__file__).resolve().parents[1]

#: What the torch-free path must never import.
HEAVY = {"torch", "speechbrain", "transformers", "timm", "torchaudio"}

#: The subcommand modules (``speechbrain_wav2small.cli.<module>``).
SUBCOMMAND_MODULES = {
    f"speechbrain_wav2small.cli.{command.module}"
    for command in COMMANDS.values()
}

# Runs the module as ``python -m`` does, then prints its exit status and
# every imported module as the last line of standard output.
PROBE = textwrap.dedent(
    """
    import json, runpy, sys
    try:
        runpy.run_module(
            "speechbrain_wav2small.cli", run_name="__main__", alter_sys=True
        )
        status = None
    except SystemExit as stop:
        status = stop.code
    print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
    """
)


def run_cli(*argv):
    """Runs ``python -m speechbrain_wav2small.cli ARGV`` in a fresh process.

    Returns the exit status, the imported modules, and what it printed.
    """
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    *printed, last = completed.stdout.splitlines()
    probe = json.loads(last)
    return probe["status"], set(probe["modules"]), "\n".join(printed)


def heavy_modules(modules):
    """The imported modules that belong to a package of :data:`HEAVY`."""
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.fixture(scope="module")
def package():
    """The packaged Wav2Small of the test session (PyTorch and ONNX)."""
    built = packaged_wav2small()
    assert built["status"] == 0
    return built["package"]


@pytest.fixture(scope="module")
def three_seconds(tmp_path_factory):
    """3 s of real speech at 22.05 kHz (the file is resampled on load)."""
    speech, rate = sf.read(DATA / "TTS_LJ050-0131.wav", dtype="float32")
    path = tmp_path_factory.mktemp("startup") / "three seconds.wav"
    sf.write(path, speech[: 3 * rate], rate)
    return path


def _model_and_options(kind, package, folder):
    """--model and --backend for each way of asking for the ONNX model."""
    if kind == "int8 file":
        return [package / "model.int8.onnx"]
    if kind == "onnx-only folder":
        folder.mkdir()
        for name in ("model.onnx", "model.int8.onnx"):
            shutil.copy(package / name, folder / name)
        return [folder]
    return [package, "--backend", "onnx"]


@pytest.mark.parametrize(
    "kind", ["int8 file", "onnx-only folder", "package with --backend onnx"]
)
def test_predict_on_onnx_never_imports_torch(
    kind, package, three_seconds, tmp_path
):
    """Each way of asking for the ONNX model predicts without torch."""
    out = tmp_path / "out.csv"
    model = _model_and_options(kind, package, tmp_path / "onnx only")
    status, modules, _ = run_cli(
        "predict", three_seconds, "--model", *model, "--out", out
    )
    assert status == 0
    assert heavy_modules(modules) == []
    assert "onnxruntime" in modules
    # The figures are the ONNX interface's own (the int8 file is the one
    # a folder prefers).
    expected = OnnxEmotionDimensions(package / "model.int8.onnx").predict_file(
        three_seconds
    )
    with open(out, encoding="utf-8", newline="") as stream:
        (row,) = csv.DictReader(stream)
    assert row["error"] == "" and float(row["end"]) == pytest.approx(3.0)
    predicted = {name: float(row[name]) for name in DIMENSIONS}
    assert predicted == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_predict_with_pytorch_imports_torch(package, three_seconds, tmp_path):
    """The probe sees torch when it is imported: the test above can fail."""
    out = tmp_path / "out.csv"
    status, modules, _ = run_cli(
        "predict", three_seconds, "--model", package, "--out", out
    )
    assert status == 0
    assert {"torch", "speechbrain"} <= set(heavy_modules(modules))


def test_help_imports_no_subcommand():
    """``wav2small --help`` lists every subcommand from the table alone."""
    status, modules, printed = run_cli("--help")
    assert status == 0
    for name, command in COMMANDS.items():
        assert name in printed and command.help[:30] in " ".join(
            printed.split()
        )
    package_modules = {m for m in modules if m.startswith("speechbrain_")}
    assert package_modules == {
        "speechbrain_wav2small",
        "speechbrain_wav2small.cli",
        "speechbrain_wav2small.version",
    }
    assert heavy_modules(modules) == []


def test_subcommand_help_imports_only_that_subcommand():
    """``wav2small predict --help`` imports no other subcommand."""
    status, modules, printed = run_cli("predict", "--help")
    assert status == 0
    assert printed.startswith("usage: wav2small predict")
    assert "--model" in printed and "--backend" in printed
    assert modules & SUBCOMMAND_MODULES == {"speechbrain_wav2small.cli.predict"}
    assert heavy_modules(modules) == []


def test_parser_errors_and_version_as_argparse_reports_them(capsys):
    """A missing or unknown subcommand, a subcommand's missing arguments,
    --version and a subcommand's --help read as argparse writes them."""
    for argv, code, message in [
        ([], 2, "the following arguments are required: command"),
        (["bogus"], 2, "argument command: invalid choice: 'bogus'"),
        (["predict"], 2, "required: INPUT, --model"),
        (["--version"], 0, f"wav2small {__version__}"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        captured = capsys.readouterr()
        assert stop.value.code == code, argv
        assert message in captured.out + captured.err, argv
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = capsys.readouterr().out
    assert help_text.startswith("usage: wav2small export")
    assert "--checkpoint" in help_text


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "a.wav", "--model", "m.onnx"],
        ["--version", "predict"],
        ["--he", "predict"],
        ["-h", "export"],
        ["-5", "predict"],
        ["-", "predict"],
        ["--quiet", "predict"],
        ["predictions"],
        [],
    ],
)
def test_find_command_agrees_with_argparse(argv, capsys):
    """The subcommand to build is the one argparse would run (None when
    argparse stops first)."""
    try:
        args, _ = build_parser(commands=[]).parse_known_args(argv)
        expected = args.command
    except SystemExit:
        expected = None
    capsys.readouterr()
    assert find_command(argv) == expected
