"""Predict arousal, dominance and valence for audio files and folders.

INPUTS are files and folders (searched recursively for audio). --model is
a packaged folder, a model-hub id (owner/name or owner/name@REVISION,
fetched into the Hugging Face cache, which also serves it offline) or an
.onnx file (a folder with only ONNX files, or --backend onnx, uses
onnxruntime, without importing torch). A package's hyperparams.yaml is
code (the PyTorch backend builds the objects it names), so use packages
you trust: it is checked against the package's checksums.sha256 before it
runs, and the ONNX backend runs no code from the package. One row per
file with the columns path, level, start, end, arousal, dominance, valence,
error; with --window (and --hop) also one row per window (level "window";
the file row then holds their duration-weighted mean). The window and the
hop must be finite, at least the model's shortest clip, and the hop at
most the window. With --embeddings
every row also holds the model's embedding (the features its head reads,
e.g. to train a classifier on): columns embedding_0 ... embedding_{F-1}
in CSV, an "embedding" list in JSON. A file that cannot be used gets a
row with the error (a model output that is not finite included). Results
go to --out (.csv or .json), or as CSV to standard output. File names
that are not valid UTF-8 are written with their odd bytes escaped
(caf\\xe9.wav).

Rows are written as each file is done: to standard output, or to a file
beside --out, RESULTS.partial.csv (RESULTS.partial.jsonl for a .json
--out: the rows of one input file per line), flushed after each file.
--out itself is written, replacing any earlier one, only once every file
is done, so a crash or a kill (SIGTERM, Ctrl-C) never loses earlier
results and leaves every finished row in the partial file. --resume
continues from it (or from a finished --out, to add new files): the files
that already have rows, error rows included, are skipped and the others
appended; the last file of an interrupted CSV is predicted again, since a
kill may have cut its rows short. Without --resume, an unfinished partial
file stops the run before any work (resume it, or delete it).

Exit status: 0 when at least one file was predicted; 1 when none could be
(or the model could not be loaded); 2 for unusable options (checked before
any work: --window/--hop, an --out that is a folder, of another
extension, or in a folder that cannot be written); 130 or 143 when
interrupted by SIGINT or SIGTERM.
"""

import contextlib
import math
import os
import signal
import sys
import threading

from tqdm import tqdm

from speechbrain_wav2small.cli.prediction_results import (  # noqa: F401
    COLUMNS,
    EMBEDDING,
    NOT_FINITE,
    OutputError,
    RowWriter,
    UsageError,
    check_out,
    error_row,
    printable,
    write_rows,
)
from speechbrain_wav2small.dataio.audio import (
    AudioError,
    audio_info,
    scan_audio_folder,
)
from speechbrain_wav2small.inference.file_prediction import check_window
from speechbrain_wav2small.utils.hub import resolve_source
from speechbrain_wav2small.utils.model_files import HPARAMS_FILE


class Terminated(KeyboardInterrupt):
    """Raised by the SIGTERM handler, so that a kill ends like Ctrl-C."""


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
    parser.add_argument(
        "--window",
        type=float,
        help="window length in seconds (at least the model's shortest "
        "clip, e.g. 0.004 s for Wav2Small)",
    )
    parser.add_argument(
        "--hop",
        type=float,
        help="hop between windows in seconds (default and most: --window)",
    )
    parser.add_argument(
        "--out",
        help="results file, .csv or .json (its folder is created); rows go "
        "to OUT.partial.csv / OUT.partial.jsonl as files are done, and OUT "
        "is replaced only when all are",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (its partial file) or add to a "
        "finished --out: skip the files that already have rows",
    )
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
    the folders that cannot be listed; each path once.

    A folder that cannot be listed (permission denied) is kept as a path
    of its own, in sorted place, so that its row says why instead of its
    files vanishing from the results.

    Example
    -------
    >>> import tempfile
    >>> expand_inputs([tempfile.mkdtemp(), "missing.wav", "missing.wav"])
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
    # A file named twice (alone and in its folder) gets one set of rows,
    # so that --resume, which skips by path, finds what a full run writes.
    return list(dict.fromkeys(paths))


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
        return [error_row(path, error.reason, embeddings)]
    except Exception as error:  # one bad file must not stop a batch job
        message = f"{type(error).__name__}: {error}"
        return [error_row(path, message, embeddings)]
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
    # The interfaces refuse non-finite outputs themselves; this keeps a
    # NaN of any other predictor out of the results as well.
    if not all(_finite(row) for row in rows):
        return [error_row(path, NOT_FINITE, embeddings)]
    return rows


def _finite(row):
    """Whether the scores and the embedding of a row are all finite."""
    values = [row[name] for name in COLUMNS[4:7]] + (row.get(EMBEDDING) or [])
    return all(math.isfinite(value) for value in values)


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


def _on_sigterm(signum, frame):
    """Ends a run killed by SIGTERM as Ctrl-C does (the rows stay)."""
    raise Terminated(signum)


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM raises :class:`Terminated` inside the block (main thread
    only: elsewhere signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error(message, status):
    """Prints ``error: message`` to stderr; returns ``status``."""
    print(f"error: {message}", file=sys.stderr)
    return status


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
    # Everything the options can get wrong is found before any work.
    try:
        # The model's shortest clip is checked once it is loaded.
        check_window(args.window, args.hop, min_seconds=0.0)
        if args.resume and not args.out:
            raise UsageError("--resume needs --out (the results to resume)")
        if args.out:
            check_out(args.out, args.resume)
    except ValueError as error:
        if not isinstance(error, UsageError):
            error = f"--window/--hop: {error}"
        return _error(error, 2)
    paths = expand_inputs(args.inputs)
    if not paths:
        return _error("no audio files found in the inputs", 1)
    try:
        model = load_model(args.model, args.backend, args.savedir, args.device)
    except Exception as error:  # any loading failure ends the run cleanly
        return _error(f"cannot load model {args.model}: {error}", 1)
    try:
        window, hop = model.check_window(args.window, args.hop)
    except ValueError as error:
        return _error(f"--window/--hop: {error}", 2)
    embedding_size = None
    if args.embeddings:
        try:
            embedding_size = model.embedding_size
        except ValueError as error:  # a model without embeddings
            return _error(f"--embeddings: {error}", 1)
    writer = RowWriter(args.out, embedding_size)
    done, todo, failed = {}, [], 0
    with _sigterm_interrupts():
        try:
            done = dict(writer.open(args.resume))
            todo = [path for path in paths if printable(path) not in done]
            for path in tqdm(
                todo, desc="predict", unit="file", disable=args.quiet
            ):
                rows = predict_rows(model, path, window, hop, args.embeddings)
                writer.write(rows)
                failed += bool(rows[0]["error"])
            writer.finish()
        except KeyboardInterrupt as interrupt:
            writer.close()
            count = len(writer.done) - len(done)
            where = ""
            if args.out:
                where = (
                    f"; the rows so far are in {writer.partial}: run the "
                    "same command with --resume to finish"
                )
            print(
                f"\ninterrupted after {count} of {len(todo)} files{where}",
                file=sys.stderr,
            )
            signum = interrupt.args[0] if interrupt.args else signal.SIGINT
            return 128 + int(signum)
        except OutputError as error:
            writer.close()
            return _error(error, 1)
        except OSError as error:  # a full disk, a file system gone
            writer.close()
            where = writer.partial or "standard output"
            return _error(f"cannot write the results to {where}: {error}", 1)
    earlier = [done[key] for key in map(printable, paths) if key in done]
    predicted = len(todo) - failed
    if not args.quiet:
        print(
            f"{predicted} of {len(todo)} files predicted"
            + (f", {failed} failed (see the error column)" if failed else "")
            + (
                f"; {len(earlier)} skipped (already in {args.out})"
                if earlier
                else ""
            ),
            file=sys.stderr,
        )
    return 0 if predicted + sum(earlier) > 0 else 1
