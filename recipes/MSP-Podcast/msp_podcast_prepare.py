"""Data preparation for MSP-Podcast: SpeechBrain CSV manifests per split.

Reads any release of the corpus, whatever its naming generation:

* labels in ``Labels/``, ``labels/``, ``label/`` or at the corpus root;
* ``labels_consensus`` or (before v1.10) ``labels_concensus``, as ``.csv``
  or ``.json``;
* audio in ``Audios/`` or ``Audio/``;
* the development split called ``Development`` or (older) ``Validation``.

Writes ``Train.csv``, ``Development.csv``, ``Test1.csv``, ``Test2.csv`` (when
the release has them) and ``Test3.csv`` (audio only, no labels) with the
columns ``ID, duration, wav, arousal, dominance, valence, speaker, gender,
podcast``; attributes are mapped from the raters' 1..7 to 0..1 with
``(y - 1) / 6``. Audio paths are absolute, so the pseudo-labeller and
``wav2small predict`` read the manifests as they are.

Missing or unreadable audio files are reported by name and count (and
listed in ``prepare_errors.csv``), never dropped silently. A second call
with the same options finds the manifests and does nothing.

Authors
 * speechbrain-wav2small contributors 2026
"""

import csv
import json
import logging
import os
from pathlib import Path

from speechbrain_wav2small.dataio.audio import AudioError, audio_info
from speechbrain_wav2small.utils.durable import atomic_write, atomic_write_csv

logger = logging.getLogger(__name__)

LABEL_FOLDERS = ("Labels", "labels", "label", ".")
LABEL_STEMS = ("labels_consensus", "labels_concensus")
AUDIO_FOLDERS = ("Audios", "Audio")
#: Split names in the labels file -> manifest name.
SPLIT_NAMES = {
    "Train": "Train",
    "Development": "Development",
    "Validation": "Development",
    "Test1": "Test1",
    "Test2": "Test2",
}
ATTRIBUTES = {"arousal": "EmoAct", "dominance": "EmoDom", "valence": "EmoVal"}
COLUMNS = [
    "ID",
    "duration",
    "wav",
    "arousal",
    "dominance",
    "valence",
    "speaker",
    "gender",
    "podcast",
]
OPTIONS_FILE = "prepare_options.json"
ERRORS_FILE = "prepare_errors.csv"


def prepare_msp_podcast(data_folder, save_folder, skip_prep=False):
    """Writes one SpeechBrain CSV manifest per MSP-Podcast split.

    Arguments
    ---------
    data_folder : str
        Root of the corpus (holds the audio and label folders).
    save_folder : str
        Where the manifests go.
    skip_prep : bool
        If True, do nothing.

    Returns
    -------
    dict
        Split name -> manifest path, for the splits written.

    Example
    -------
    >>> prepare_msp_podcast("/data/MSP-Podcast", "prep")  # doctest: +SKIP
    """
    if skip_prep:
        return {}
    data_folder, save_folder = Path(data_folder), Path(save_folder)
    options = {"data_folder": str(data_folder.resolve())}
    save_folder.mkdir(parents=True, exist_ok=True)
    if _already_prepared(save_folder, options):
        logger.info("Manifests in %s are up to date; skipping", save_folder)
        return _existing_manifests(save_folder)

    labels_file = find_labels_file(data_folder)
    audio_folder = find_audio_folder(data_folder)
    logger.info("Labels: %s; audio: %s", labels_file, audio_folder)
    labels = read_labels(labels_file)

    rows_by_split = {}
    errors = []
    for name, entry in labels.items():
        split = SPLIT_NAMES.get(entry["Split_Set"])
        if split is None:
            continue
        row = _manifest_row(name, entry, audio_folder, errors)
        if row is not None:
            rows_by_split.setdefault(split, []).append(row)
    test3 = _test3_rows(audio_folder, set(labels), errors)
    if test3:
        rows_by_split["Test3"] = test3

    if errors:
        atomic_write_csv(save_folder / ERRORS_FILE, ["file", "reason"], errors)
        shown = ", ".join(error["file"] for error in errors[:10])
        logger.warning(
            "%d audio file(s) missing or unreadable, left out of the "
            "manifests and listed in %s: %s%s",
            len(errors),
            save_folder / ERRORS_FILE,
            shown,
            " ..." if len(errors) > 10 else "",
        )
    manifests = {}
    for split, rows in rows_by_split.items():
        path = save_folder / f"{split}.csv"
        columns = COLUMNS if split != "Test3" else _unlabelled_columns()
        atomic_write_csv(path, columns, rows)
        manifests[split] = str(path)
        logger.info("%s: %d utterances -> %s", split, len(rows), path)
    # Written last: its presence says every manifest above is complete.
    options["manifests"] = manifests
    options["errors"] = len(errors)
    atomic_write(save_folder / OPTIONS_FILE, json.dumps(options, indent=2))
    return manifests


def find_labels_file(data_folder):
    """The consensus labels file of any release, CSV preferred over JSON."""
    tried = []
    for folder in LABEL_FOLDERS:
        for stem in LABEL_STEMS:
            for extension in (".csv", ".json"):
                path = Path(data_folder) / folder / f"{stem}{extension}"
                tried.append(str(path))
                if path.is_file():
                    return path
    raise FileNotFoundError(
        f"no consensus labels file in {data_folder}; looked for "
        f"{', '.join(tried[:4])} and {len(tried) - 4} other variants"
    )


def find_audio_folder(data_folder):
    """``Audios/`` or ``Audio/`` under the corpus root."""
    for name in AUDIO_FOLDERS:
        path = Path(data_folder) / name
        if path.is_dir():
            return path
    raise FileNotFoundError(
        f"no audio folder in {data_folder} (expected Audios/ or Audio/)"
    )


def read_labels(path):
    """Labels as {FileName: {EmoAct, EmoVal, EmoDom, SpkrID, Gender,
    Split_Set, ...}}, from the CSV or the JSON release format."""
    path = Path(path)
    if path.suffix == ".json":
        with open(path, encoding="utf-8") as stream:
            content = json.load(stream)
        return {
            _with_wav(name): {k: str(v) for k, v in entry.items()}
            for name, entry in content.items()
        }
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        missing = {"FileName", "Split_Set", *ATTRIBUTES.values()} - set(
            reader.fieldnames or []
        )
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        return {_with_wav(row["FileName"]): row for row in reader}


def podcast_id(file_name):
    """The podcast id: the second ``_`` token of the file name.

    Example
    -------
    >>> podcast_id("MSP-PODCAST_0153_0024.wav")
    '0153'
    """
    parts = Path(file_name).stem.split("_")
    return parts[1] if len(parts) > 2 else ""


def msp_podcast_id(utterance_id):
    """Podcast id of an MSP-style ID (``MSP-PODCAST_0153_0024`` -> 0153),
    or an empty string for other names (extra audio of any origin).

    Example
    -------
    >>> msp_podcast_id("MSP-PODCAST_0153_0024"), msp_podcast_id("clip7")
    ('0153', '')
    >>> msp_podcast_id("my_own_clip")
    ''
    """
    if not Path(utterance_id).stem.upper().startswith("MSP"):
        return ""
    return podcast_id(utterance_id)


def podcasts_in(manifests):
    """The set of podcast ids in the ``podcast`` column of manifests.

    Arguments
    ---------
    manifests : list of str
        Manifests written by :func:`prepare_msp_podcast`; empty entries and
        missing files are skipped.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "Test1.csv")
    >>> _ = open(path, "w").write("ID,podcast\\na,0011\\nb,0011\\nc,\\n")
    >>> podcasts_in([path, None, "missing.csv"])
    {'0011'}
    """
    podcasts = set()
    for manifest in manifests:
        if not manifest or not os.path.isfile(manifest):
            continue
        with open(manifest, newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                if row.get("podcast"):
                    podcasts.add(row["podcast"])
    return podcasts


def _with_wav(name):
    """``name`` with the ``.wav`` extension (older label files omit it)."""
    return name if name.endswith(".wav") else f"{name}.wav"


def _manifest_row(name, entry, audio_folder, errors):
    """The manifest row of a labelled file, or None (reason in ``errors``)."""
    path = audio_folder / name
    try:
        duration = audio_info(path)["duration"]
    except AudioError as error:
        errors.append({"file": str(path), "reason": error.reason})
        return None
    row = {
        "ID": Path(name).stem,
        "duration": f"{duration:.3f}",
        "wav": _absolute(path),
        "speaker": entry.get("SpkrID", "Unknown") or "Unknown",
        "gender": entry.get("Gender", "Unknown") or "Unknown",
        "podcast": podcast_id(name),
    }
    for dimension, column in ATTRIBUTES.items():
        row[dimension] = f"{(float(entry[column]) - 1.0) / 6.0:.6f}"
    return row


def _test3_rows(audio_folder, labelled, errors):
    """Rows of the audio-only Test3 files; unreadable ones go to ``errors``."""
    rows = []
    for path in sorted(audio_folder.glob("*.wav")):
        if "_test3_" not in path.name.lower() or path.name in labelled:
            continue
        try:
            duration = audio_info(path)["duration"]
        except AudioError as error:
            errors.append({"file": str(path), "reason": error.reason})
            continue
        rows.append(
            {
                "ID": path.stem,
                "duration": f"{duration:.3f}",
                "wav": _absolute(path),
                "speaker": "Unknown",
                "gender": "Unknown",
                "podcast": "",
            }
        )
    return rows


def _unlabelled_columns():
    """The manifest columns without the emotion attributes."""
    return [c for c in COLUMNS if c not in ATTRIBUTES]


def _absolute(path):
    """``path`` made absolute, so manifests work from any folder."""
    return str(Path(path).resolve())


def _already_prepared(save_folder, options):
    """True when ``save_folder`` holds manifests made from the same corpus."""
    path = save_folder / OPTIONS_FILE
    if not path.is_file():
        return False
    saved = json.loads(path.read_text(encoding="utf-8"))
    if saved.get("data_folder") != options["data_folder"]:
        return False
    return all(Path(p).is_file() for p in saved.get("manifests", {}).values())


def _existing_manifests(save_folder):
    """Split -> manifest path, as recorded by an earlier preparation."""
    saved = json.loads((save_folder / OPTIONS_FILE).read_text(encoding="utf-8"))
    return saved["manifests"]


if __name__ == "__main__":
    import argparse

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_folder")
    parser.add_argument("save_folder")
    args = parser.parse_args()
    prepare_msp_podcast(args.data_folder, args.save_folder)
