"""Predict arousal, dominance and valence for audio files and folders.

INPUTS are files and folders (searched recursively for audio). --model is
a packaged folder, a model-hub id (owner/name or owner/name@REVISION,
fetched into the Hugging Face cache, which also serves it offline) or an
.onnx file (a folder with only ONNX files, or --backend onnx, uses
onnxruntime, without importing torch). One row per
file with the columns path, level, start, end, arousal, dominance, valence,
error; with --window (and --hop) also one row per window (level "window";
the file row then holds their duration-weighted mean). With --embeddings
every row also holds the model's embedding (the features its head reads,
e.g. to train a classifier on): columns embedding_0 ... embedding_{F-1}
in CSV, an "embedding" list in JSON. A file that cannot be used gets a
row with the error. Results go to --out (.csv or .json), or as CSV to
standard output. The exit status is non-zero only when no file could be
predicted.
"""

import csv
import json
import os
import sys

from tqdm import tqdm

from speechbrain_wav2small.dataio.audio import (
    AudioError,
    audio_info,
    scan_audio_folder,
)
from speechbrain_wav2small.utils.durable import atomic_open
from speechbrain_wav2small.utils.hub import resolve_source
from speechbrain_wav2small.utils.model_files import (
    HPARAMS_FILE,
    embedding_names,
)

#: Key of a row's embedding (``--embeddings``); CSV spreads it over the
#: columns ``embedding_0``... after :data:`COLUMNS`.
EMBEDDING = "embedding"

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
        help="packaged folder, hub id (owner/name[@REVISION]) or .onnx file",
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
    parser.add_argument(
        "--embeddings",
        action="store_true",
        help="also write each row's embedding (the features the model's "
        "head reads): CSV columns embedding_0..embedding_{F-1}, a JSON "
        "'embedding' list",
    )


def load_model(model, backend="auto", savedir=None, device="cpu"):
    """The predictor for ``--model`` (see module docstring).

    A hub id is first fetched (only its hyperparameters file and the files
    :class:`OnnxEmotionDimensions` reads, into the ``huggingface_hub``
    cache, offline with ``HF_HUB_OFFLINE=1``); its snapshot folder then
    follows the same rule as a local folder, so that an ONNX-only
    repository never needs PyTorch.

    Arguments
    ---------
    model : str
        A packaged folder, a hub id (``owner/name``, or
        ``owner/name@revision`` for a branch, tag or commit) or an
        ``.onnx`` file.
    backend : str
        ``auto``: onnxruntime for a file and for a folder (or hub
        snapshot) without a hyperparameters file, PyTorch otherwise;
        ``torch``; ``onnx``.
    savedir : str, optional
        Where a hub model is stored for PyTorch.
    device : str
        PyTorch device.

    Returns
    -------
    EmotionDimensions or OnnxEmotionDimensions

    Example
    -------
    >>> load_model("missing/model.onnx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: model missing/model.onnx does not exist (...)
    """
    if backend != "torch":
        from speechbrain_wav2small.inference.onnx_emotion import (
            HUB_FILES,
            OnnxEmotionDimensions,
        )

        local = resolve_source(
            model, "model", [HPARAMS_FILE, *HUB_FILES], folder=False
        )
        onnx_folder = local.is_dir() and not (local / HPARAMS_FILE).is_file()
        if backend == "onnx" or local.is_file() or onnx_folder:
            return OnnxEmotionDimensions(local)
    from speechbrain_wav2small.inference.emotion import EmotionDimensions

    return EmotionDimensions.from_hparams(
        source=model, savedir=savedir, run_opts={"device": device}
    )


def expand_inputs(inputs):
    """Files as given (even missing ones), audio files under folders, and
    the folders that cannot be listed.

    A folder that cannot be listed (permission denied) is kept as a path
    of its own, in sorted place, so that its row says why instead of its
    files vanishing from the results.

    Example
    -------
    >>> import tempfile
    >>> expand_inputs([tempfile.mkdtemp(), "missing.wav"])
    ['missing.wav']
    """
    paths = []
    for item in inputs:
        if not os.path.isdir(item):
            paths.append(item)
            continue
        try:
            files, unreadable = scan_audio_folder(item)
        except AudioError as error:  # the folder itself
            paths.append(error.path)
            continue
        paths.extend(sorted(files + [error.path for error in unreadable]))
    return paths


def predict_rows(model, path, window=None, hop=None, embeddings=False):
    """The output rows of one file (an error row if it cannot be used);
    with ``embeddings`` each row also has its ``embedding`` (a list of
    floats; None in an error row).

    Example
    -------
    >>> predict_rows(None, "missing.wav")[0]["error"]
    'file does not exist'
    >>> predict_rows(None, "missing.wav", embeddings=True)[0]["embedding"]
    """
    try:
        duration = audio_info(path)["duration"]
        options = {"embeddings": True} if embeddings else {}
        result = model.predict_file(path, window=window, hop=hop, **options)
    except AudioError as error:
        return [_error_row(path, error.reason, embeddings)]
    except Exception as error:  # one bad file must not stop a batch job
        message = f"{type(error).__name__}: {error}"
        return [_error_row(path, message, embeddings)]
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
    """One output row with scores (and the embedding, when ``scores`` has
    one)."""
    row = {
        "path": path,
        "level": level,
        "start": round(float(start), 6),
        "end": round(float(end), 6),
        **{name: float(scores[name]) for name in COLUMNS[4:7]},
        "error": "",
    }
    if EMBEDDING in scores:
        row[EMBEDDING] = [float(value) for value in scores[EMBEDDING]]
    return row


def _error_row(path, message, embeddings=False):
    """One output row for a file that could not be predicted."""
    row = {
        "path": path,
        "level": "file",
        "start": None,
        "end": None,
        "arousal": None,
        "dominance": None,
        "valence": None,
        "error": message,
    }
    if embeddings:
        row[EMBEDDING] = None
    return row


def write_rows(rows, out=None, embedding_size=None):
    """Writes rows as CSV or JSON (by extension), or CSV to stdout.

    Arguments
    ---------
    rows : list of dict
        Rows with the keys of :data:`COLUMNS` (and :data:`EMBEDDING`).
    out : str, optional
        A ``.csv`` or ``.json`` file, replaced whole (never left half
        written); standard output when omitted.
    embedding_size : int, optional
        F, when the rows have embeddings: CSV gets the columns
        ``embedding_0`` to ``embedding_{F-1}`` in place of the list.

    Example
    -------
    >>> rows = [_error_row("a.wav", "empty")]
    >>> write_rows(rows)  # doctest: +NORMALIZE_WHITESPACE
    path,level,start,end,arousal,dominance,valence,error
    a.wav,file,,,,,,empty
    >>> rows = [_error_row("a.wav", "empty", embeddings=True)]
    >>> write_rows(rows, embedding_size=2)  # doctest: +NORMALIZE_WHITESPACE
    path,level,start,end,arousal,dominance,valence,error,embedding_0,embedding_1
    a.wav,file,,,,,,empty,,
    """
    if out and out.lower().endswith(".json"):
        with atomic_open(out) as stream:
            json.dump(rows, stream, indent=2, ensure_ascii=False)
            stream.write("\n")
        return
    if out and not out.lower().endswith(".csv"):
        raise ValueError(f"--out must end in .csv or .json, got {out}")
    if not out:
        _write_csv(rows, sys.stdout, embedding_size)
        return
    with atomic_open(out, newline="") as stream:
        _write_csv(rows, stream, embedding_size)


def _write_csv(rows, stream, embedding_size=None):
    """Writes the header and the rows as CSV (None as an empty cell), each
    embedding spread over its ``embedding_<i>`` columns."""
    names = embedding_names(embedding_size or 0)
    writer = csv.DictWriter(stream, fieldnames=COLUMNS + tuple(names))
    writer.writeheader()
    for row in rows:
        row = dict(row)
        embedding = row.pop(EMBEDDING, None)
        if embedding is not None:
            row.update(zip(names, embedding, strict=True))
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
    embedding_size = None
    if args.embeddings:
        try:
            embedding_size = model.embedding_size
        except ValueError as error:  # a model without embeddings
            print(f"error: --embeddings: {error}", file=sys.stderr)
            return 1
    rows, failed = [], 0
    for path in tqdm(paths, desc="predict", unit="file", disable=args.quiet):
        file_rows = predict_rows(
            model, path, args.window, args.hop, args.embeddings
        )
        failed += bool(file_rows[0]["error"])
        rows.extend(file_rows)
    write_rows(rows, args.out, embedding_size)
    if not args.quiet:
        print(
            f"{len(paths) - failed} of {len(paths)} files predicted"
            + (f", {failed} failed (see the error column)" if failed else ""),
            file=sys.stderr,
        )
    return 0 if failed < len(paths) else 1
