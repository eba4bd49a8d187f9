"""Reports of a run: results JSON, history, challenge CSV, plots.

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv
import json
import os

import numpy as np

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.utils.durable import (
    append_line,
    atomic_open,
    atomic_write,
)

#: Challenge column for each dimension (MSP-Podcast naming).
CHALLENGE_COLUMNS = {
    "arousal": "EmoAct",
    "valence": "EmoVal",
    "dominance": "EmoDom",
}


def to_rating_scale(values):
    """0..1 predictions -> MSP's 1..7 rating scale, clipped.

    Arguments
    ---------
    values : array_like
        Predictions on the 0..1 scale.

    Returns
    -------
    numpy.ndarray
        float64 ratings in [1, 7], same shape.

    Example
    -------
    >>> to_rating_scale(np.array([0.0, 0.5, 1.2])).tolist()
    [1.0, 4.0, 7.0]
    """
    return np.clip(np.asarray(values, dtype=np.float64) * 6.0 + 1.0, 1.0, 7.0)


def write_challenge_csv(path, ids, predictions):
    """Writes ``FileName,EmoAct,EmoVal,EmoDom`` on the 1..7 scale, durably.

    The MSP-Podcast challenge's submission layout: ``.wav`` is appended to
    ids that lack it.

    Arguments
    ---------
    path : str or os.PathLike
        The CSV file to write.
    ids : list of str
        Utterance ids, one per row of ``predictions``.
    predictions : array_like
        [N, 3] on the 0..1 scale, columns in the order of
        :data:`speechbrain_wav2small.DIMENSIONS`.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "test_predictions.csv")
    >>> write_challenge_csv(path, ["a"], [[0.5, 0.0, 1.0]])
    >>> open(path).read().splitlines()
    ['FileName,EmoAct,EmoVal,EmoDom', 'a.wav,4.0000,7.0000,1.0000']
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    ratings = to_rating_scale(predictions)
    with atomic_open(path, newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["FileName", "EmoAct", "EmoVal", "EmoDom"])
        for utterance_id, row in zip(ids, ratings, strict=True):
            name = utterance_id
            if not name.endswith(".wav"):
                name = f"{name}.wav"
            writer.writerow(
                [name]
                + [
                    f"{row[DIMENSIONS.index(dimension)]:.4f}"
                    for dimension in ("arousal", "valence", "dominance")
                ]
            )


def update_results(path, updates):
    """Merges ``updates`` into the JSON object in ``path`` (durably).

    Several stages of a run add their figures to one ``results.json``; a
    crash while writing leaves the previous version in place.

    Arguments
    ---------
    path : str or os.PathLike
        The JSON file; created when absent.
    updates : dict
        Top-level entries to add or replace.

    Returns
    -------
    dict
        The merged results, as written.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "results.json")
    >>> update_results(path, {"ccc": 0.5})
    {'ccc': 0.5}
    >>> update_results(path, {"student": "wav2small"})
    {'ccc': 0.5, 'student': 'wav2small'}
    """
    results = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as stream:
            results = json.load(stream)
    results.update(updates)
    atomic_write(path, json.dumps(results, indent=2))
    return results


def append_history(path, record):
    """Appends one epoch's figures as a JSON line, durably.

    Arguments
    ---------
    path : str or os.PathLike
        The history file (JSON lines).
    record : dict
        The epoch's figures, with an ``epoch`` entry.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "history.jsonl")
    >>> append_history(path, {"epoch": 1, "train_loss": 0.5})
    >>> read_history(path)
    [{'epoch': 1, 'train_loss': 0.5}]
    """
    append_line(path, json.dumps(record))


def read_history(path):
    """Epoch records from :func:`append_history`, last one per epoch.

    A resumed run appends an epoch again; its latest record wins.

    Arguments
    ---------
    path : str or os.PathLike
        The history file; a missing file gives no records.

    Returns
    -------
    list of dict
        One record per epoch, in epoch order.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "history.jsonl")
    >>> for epoch, loss in ((1, 0.6), (2, 0.5), (1, 0.4)):
    ...     append_history(path, {"epoch": epoch, "train_loss": loss})
    >>> [record["train_loss"] for record in read_history(path)]
    [0.4, 0.5]
    """
    if not os.path.isfile(path):
        return []
    records = {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            line = line.strip()
            if line:
                record = json.loads(line)
                records[record["epoch"]] = record
    return [records[epoch] for epoch in sorted(records)]


def write_test_report(out_dir, ids, predictions, teacher, human, history_path):
    """Scatter plots per dimension and training curves, as PNG files.

    Writes ``scatter_vs_teacher.png``, ``scatter_vs_human.png`` (when human
    labels are given) and ``training_curves.png`` (when a history exists).

    Arguments
    ---------
    out_dir : str or os.PathLike
        Folder the PNG files go to.
    ids : list of str
        Test utterance ids (counted in the titles).
    predictions : array_like
        Student predictions [N, 3] on the 0..1 scale.
    teacher : array_like or None
        Teacher targets [N, 3], or ``None`` to skip that plot.
    human : array_like or None
        Human labels [N, 3], or ``None`` to skip that plot.
    history_path : str or os.PathLike
        The run's :func:`append_history` file, for the training curves.

    Returns
    -------
    list of str
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from speechbrain_wav2small.objectives import ccc

    written = []
    predictions = np.asarray(predictions, dtype=np.float64)
    references = [("teacher", teacher), ("human", human)]
    for name, reference in references:
        if reference is None:
            continue
        reference = np.asarray(reference, dtype=np.float64)
        figure, axes = plt.subplots(1, 3, figsize=(12, 4))
        for column, (axis, dimension) in enumerate(
            zip(axes, DIMENSIONS, strict=True)
        ):
            axis.scatter(reference[:, column], predictions[:, column], s=8)
            axis.plot([0, 1], [0, 1], color="grey", linewidth=1)
            value = float(ccc(predictions[:, column], reference[:, column]))
            axis.set_title(f"{dimension}: CCC {value:.3f}")
            axis.set_xlabel(name)
            axis.set_ylabel("student")
            axis.set_xlim(0, 1)
            axis.set_ylim(0, 1)
        figure.suptitle(f"Student vs {name} ({len(ids)} test utterances)")
        figure.tight_layout()
        path = os.path.join(out_dir, f"scatter_vs_{name}.png")
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    history = read_history(history_path)
    if history:
        epochs = [record["epoch"] for record in history]
        figure, (loss_axis, ccc_axis) = plt.subplots(1, 2, figsize=(10, 4))
        loss_axis.plot(
            epochs, [r["train_loss"] for r in history], label="train"
        )
        loss_axis.plot(
            epochs, [r["valid_loss"] for r in history], label="valid"
        )
        loss_axis.set_xlabel("epoch")
        loss_axis.set_ylabel("1 - CCC loss")
        loss_axis.legend()
        for dimension in DIMENSIONS:
            ccc_axis.plot(
                epochs,
                [r[f"valid_ccc_{dimension}"] for r in history],
                label=dimension,
            )
        ccc_axis.set_xlabel("epoch")
        ccc_axis.set_ylabel("validation CCC vs teacher")
        ccc_axis.legend()
        figure.tight_layout()
        path = os.path.join(out_dir, "training_curves.png")
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def write_test_outputs(
    out_dir, ids, predictions, teacher, human, vs_teacher, vs_human
):
    """Everything a distillation's test stage leaves in its output folder.

    ``test_predictions.csv`` (MSP-Podcast challenge format), the plots of
    :func:`write_test_report` and the test figures merged into
    ``results.json``.

    Arguments
    ---------
    out_dir : str or os.PathLike
        The run's output folder (holding ``history.jsonl``).
    ids : list of str
        Test utterance ids.
    predictions : torch.Tensor or array_like
        Student predictions [N, 3] on the 0..1 scale.
    teacher : torch.Tensor or array_like
        Teacher targets [N, 3].
    human : torch.Tensor or array_like or None
        Human labels [N, 3], or ``None`` when the test set has none.
    vs_teacher, vs_human : dict
        CCC summaries against the teacher and the human labels (empty when
        there are none).

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> teacher = rng.uniform(size=(5, 3))
    >>> write_test_outputs(out, list("abcde"), teacher + 0.01, teacher,
    ...                    None, {"ccc": 0.99}, {})
    >>> sorted(os.listdir(out))
    ['results.json', 'scatter_vs_teacher.png', 'test_predictions.csv']
    """
    write_challenge_csv(
        os.path.join(out_dir, "test_predictions.csv"), ids, predictions
    )
    write_test_report(
        out_dir,
        ids=ids,
        predictions=predictions,
        teacher=teacher,
        human=human,
        history_path=os.path.join(out_dir, "history.jsonl"),
    )
    update_results(
        os.path.join(out_dir, "results.json"),
        {
            "dimensions": list(DIMENSIONS),
            "test_utterances": len(ids),
            "ccc_vs_teacher": vs_teacher,
            "ccc_vs_human": vs_human,
        },
    )
