"""Predict arousal, dominance and valence for audio files and folders.

INPUTS are files and folders (searched recursively for audio). --model is
a packaged folder, a model-hub id (owner/name) or an .onnx file (a folder
with only ONNX files, or --backend onnx, uses onnxruntime). One row per
file with the columns path, level, start, end, arousal, dominance, valence,
error; with --window (and --hop) also one row per window (level "window";
the file row then holds their duration-weighted mean). A file that cannot
be used gets a row with the error. Results go to --out (.csv or .json), or
as CSV to standard output. The exit status is non-zero only when no file
could be predicted.
"""

import csv
import json
import os
import sys

from tqdm import tqdm

from speechbrain_wav2small.dataio.audio import (
    AudioError,
    audio_info,
    find_audio_files,
)
from speechbrain_wav2small.utils.durable import atomic_open
from speechbrain_wav2small.utils.hub import check_source
from speechbrain_wav2small.utils.model_files import HPARAMS_FILE

HELP = "predict arousal, dominance, valence for audio files and folders"

COLUMNS = (
    "path",
    "level",
    "start",
    "end",
    "arousal",
    "dominance",
    "valence",
    "error",
)


def add_arguments(parser):
    """Adds this subcommand's options.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["a.wav", "--model", "owner/name"]).backend
    'auto'
    """
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="audio files and folders"
    )
    parser.add_argument(
        "--model",
        required=True,
        help="packaged folder, hub id (owner/name) or .onnx file",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="auto: onnxruntime for .onnx files and ONNX-only folders, "
        "PyTorch otherwise",
    )
    parser.add_argument("--window", type=float, help="window length in seconds")
    parser.add_argument(
        "--hop", type=float, help="hop between windows in seconds"
    )
    parser.add_argument("--out", help="results file, .csv or .json")
    parser.add_argument(
        "--savedir", help="where a hub model is stored (default: cache)"
    )
    parser.add_argument(
        "--device", default="cpu", help="PyTorch device (default cpu)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar or summary"
    )


def load_model(model, backend="auto", savedir=None, device="cpu"):
    """The predictor for ``--model`` (see module docstring).

    Arguments
    ---------
    model : str
        A packaged folder, a hub id (``owner/name``) or an ``.onnx`` file.
    backend : str
        ``auto``: onnxruntime for an ``.onnx`` file and a local folder
        without a hyperparameters file, PyTorch otherwise; ``torch``;
        ``onnx``.
    savedir : str, optional
        Where a hub model is stored for PyTorch.
    device : str
        PyTorch device.

    Returns
    -------
    EmotionDimensions or OnnxEmotionDimensions
    """
    onnx_file = os.fspath(model).endswith(".onnx")
    hub = not onnx_file and check_source(model, "model", folder=False)
    onnx_folder = (
        not hub
        and os.path.isdir(model)
        and not os.path.isfile(os.path.join(model, HPARAMS_FILE))
    )
    if backend == "onnx" or (backend == "auto" and (onnx_file or onnx_folder)):
        from speechbrain_wav2small.inference.onnx_emotion import (
            OnnxEmotionDimensions,
        )

        return OnnxEmotionDimensions(model)
    from speechbrain_wav2small.inference.emotion import EmotionDimensions

    return EmotionDimensions.from_hparams(
        source=model, savedir=savedir, run_opts={"device": device}
    )


def expand_inputs(inputs):
    """Files as given (even missing ones) plus audio files under folders.

    Example
    -------
    >>> import tempfile
    >>> expand_inputs([tempfile.mkdtemp(), "missing.wav"])
    ['missing.wav']
    """
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            paths.extend(find_audio_files(item))
        else:
            paths.append(item)
    return paths


def predict_rows(model, path, window=None, hop=None):
    """The output rows of one file (an error row if it cannot be used).

    Example
    -------
    >>> predict_rows(None, "missing.wav")[0]["error"]
    'file does not exist'
    """
    try:
        duration = audio_info(path)["duration"]
        result = model.predict_file(path, window=window, hop=hop)
    except AudioError as error:
        return [_error_row(path, error.reason)]
    except Exception as error:  # one bad file must not stop a batch job
        return [_error_row(path, f"{type(error).__name__}: {error}")]
    rows = [_row(path, "file", 0.0, duration, result)]
    for window_row in result.get("windows", []):
        rows.append(
            _row(
                path,
                "window",
                window_row["start"],
                window_row["end"],
                window_row,
            )
        )
    return rows


def _row(path, level, start, end, scores):
    """One output row with scores."""
    return {
        "path": path,
        "level": level,
        "start": round(float(start), 6),
        "end": round(float(end), 6),
        **{name: float(scores[name]) for name in COLUMNS[4:7]},
        "error": "",
    }


def _error_row(path, message):
    """One output row for a file that could not be predicted."""
    return {
        "path": path,
        "level": "file",
        "start": None,
        "end": None,
        "arousal": None,
        "dominance": None,
        "valence": None,
        "error": message,
    }


def write_rows(rows, out=None):
    """Writes rows as CSV or JSON (by extension), or CSV to stdout.

    Arguments
    ---------
    rows : list of dict
        Rows with the keys of :data:`COLUMNS`.
    out : str, optional
        A ``.csv`` or ``.json`` file, replaced whole (never left half
        written); standard output when omitted.

    Example
    -------
    >>> rows = [_error_row("a.wav", "empty")]
    >>> write_rows(rows)  # doctest: +NORMALIZE_WHITESPACE
    path,level,start,end,arousal,dominance,valence,error
    a.wav,file,,,,,,empty
    """
    if out and out.lower().endswith(".json"):
        with atomic_open(out) as stream:
            json.dump(rows, stream, indent=2, ensure_ascii=False)
            stream.write("\n")
        return
    if out and not out.lower().endswith(".csv"):
        raise ValueError(f"--out must end in .csv or .json, got {out}")
    if not out:
        _write_csv(rows, sys.stdout)
        return
    with atomic_open(out, newline="") as stream:
        _write_csv(rows, stream)


def _write_csv(rows, stream):
    """Writes the header and the rows as CSV (None as an empty cell)."""
    writer = csv.DictWriter(stream, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})


def run(args):
    """Predicts every input; returns the exit status.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> run(parser.parse_args(["a.wav", "--model", "m", "--hop", "1"]))
    2
    """
    if args.out and not args.out.lower().endswith((".csv", ".json")):
        print(
            f"error: --out must end in .csv or .json: {args.out}",
            file=sys.stderr,
        )
        return 2
    if args.hop is not None and args.window is None:
        print("error: --hop needs --window", file=sys.stderr)
        return 2
    if args.window is not None and not (
        args.window > 0 and (args.hop is None or args.hop > 0)
    ):
        print("error: --window and --hop must be positive", file=sys.stderr)
        return 2
    paths = expand_inputs(args.inputs)
    if not paths:
        print("error: no audio files found in the inputs", file=sys.stderr)
        return 1
    try:
        model = load_model(args.model, args.backend, args.savedir, args.device)
    except Exception as error:  # any loading failure ends the run cleanly
        print(
            f"error: cannot load model {args.model}: {error}", file=sys.stderr
        )
        return 1
    rows, failed = [], 0
    for path in tqdm(paths, desc="predict", unit="file", disable=args.quiet):
        file_rows = predict_rows(model, path, args.window, args.hop)
        failed += bool(file_rows[0]["error"])
        rows.extend(file_rows)
    write_rows(rows, args.out)
    if not args.quiet:
        print(
            f"{len(paths) - failed} of {len(paths)} files predicted"
            + (f", {failed} failed (see the error column)" if failed else ""),
            file=sys.stderr,
        )
    return 0 if failed < len(paths) else 1
