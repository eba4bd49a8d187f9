"""A second MSP-Podcast-layout corpus, unlike the demo's, for generalisation.

The demo corpus (``demo_corpus.py``) is what the demo settings were tuned
on. This one checks that they carry over to a corpus they have never seen:
other real speakers, other acoustic factors, another mixing from factors to
ratings, the older naming of MSP-Podcast and other split proportions. Its
recordings (``tests/data/unseen``, see the README there) share no speaker
with the demo's.

Factors (each drawn uniformly in [-1, 1] per utterance, applied in this
order, which is a recording chain: talker, room, mic preamp, channel):

=============  ===============================================  =========
factor         how it is applied                                 drives
=============  ===============================================  =========
``rate``       speaking rate: WSOLA time-stretch (pitch kept),  A, D
               tempo x0.62 to x1.62
``reverb``     the podcast's room (one of three real RIRs):     D (-),
               direct-to-reverberant ratio 24 dB to -4 dB       V (-)
background     the podcast's real background (ESC-50 dog,       V
               chirping birds or thunderstorm) at 14-28 dB SNR
               (the SNR carries no label)
``drive``      preamp saturation: tanh soft clipping, gain      A, V (-)
               x1.4 (clean) to x23 (crushed)
``bandwidth``  channel low-pass (8th order Butterworth) at      V
               1.6 to 7.3 kHz
=============  ===============================================  =========

A random overall gain carries no label. Ratings (1..7) mix the factors
non-linearly, share a latent between arousal and dominance (as human
ratings do: they correlate strongly in MSP-Podcast), and add a fixed
offset per speaker (how raters hear that voice, :data:`SPEAKERS`), one per
background (:data:`BACKGROUNDS`) and rater noise (std 0.2)::

    energy    = tanh(1.2 (0.5 rate + 0.6 drive))
    arousal   = 4 + 2.2 energy                           + speaker + noise
    dominance = 4 + 1.3 energy - 1.0 reverb              + speaker + noise
    valence   = 4 + 1.1 bandwidth - 0.5 reverb - 0.8 max(drive, 0)^2
                  + background + speaker + noise

At scale 1 the ratings' standard deviations are about 1.0 / 0.9 / 0.9 and
arousal and dominance correlate at about 0.6. The demo corpus, by
contrast, mixes pitch, a vocal-effort band, tremolo, spectral tilt and
noise SNR linearly, with independent dimensions, no speaker offsets and
1.6-3.5 s utterances. Here utterances last 1.2-7 s and the VAD recordings
bring long pauses, so a short crop may hold little speech.

Layout, in MSP-Podcast's older naming: ``Audio/*.wav`` (16 kHz mono int16),
``labels_concensus.csv`` at the corpus root (columns ``FileName, EmoClass,
EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set``), the development split
called ``Validation``, no Test3, and ``Partitions.txt`` (``Split;
FileName`` lines, as older releases had; the preparation reads the
``Split_Set`` column). Podcasts have non-contiguous ids and one room,
background, host and possibly a guest each; no podcast spans two splits,
while speakers recur across splits. Splits at scale 1: Train 576
utterances (16 podcasts), Validation 140 (4), Test1 192 (6), Test2 60 (2).
``unseen_factors.csv`` (not part of the layout) keeps the ground truth.

``python unseen_corpus.py --baseline CORPUS`` fits a ridge regression on
five hand-made features (numpy and scipy only, :func:`hand_features`) on
Train and prints its CCC on Test1: what any teacher should beat on this
corpus. At scale 1 (seed 2027) it reaches .596 / .485 / .754 (arousal /
dominance / valence), mean .612.

Usage::

    python recipes/MSP-Podcast/unseen_corpus.py --out unseen_corpus
    python recipes/MSP-Podcast/unseen_corpus.py --baseline unseen_corpus

Authors
 * speechbrain-wav2small contributors 2026
"""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from demo_corpus import emotion_class
from scipy.signal import butter, fftconvolve, sosfilt

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import read_audio
from speechbrain_wav2small.objectives import ccc
from speechbrain_wav2small.utils.durable import atomic_write, atomic_write_csv

SOURCE_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "unseen"
FACTORS = ("rate", "reverb", "drive", "bandwidth")
RATER_NOISE = 0.2
#: Rating offsets (arousal, dominance, valence) of each speaker: how raters
#: hear that voice, whatever it does.
SPEAKERS = {
    # speaker id: (gender, source recordings, offsets)
    201: ("Female", ("speech_example1",), (0.3, -0.2, 0.4)),
    202: ("Female", ("speech_example2",), (-0.2, 0.1, 0.3)),
    203: ("Male", ("speech_example5",), (-0.3, 0.4, -0.2)),
    204: ("Male", ("speech_example6",), (0.2, 0.3, -0.4)),
    205: ("Female", ("speech_vad_train", "speech_vad_valid"), (0.1, -0.4, 0.0)),
    206: ("Male", ("speech_multimic_1",), (0.0, 0.2, -0.3)),
    207: ("Female", ("speech_multimic_2",), (-0.1, -0.3, 0.2)),
}
#: Valence offset of each background (its recording is background_<name>).
BACKGROUNDS = {"birds": 0.45, "dog": 0.0, "thunderstorm": -0.45}
ROOMS = ("rir_1", "rir_3", "rir_4")
#: Split -> (podcasts, utterances per podcast) at scale 1; older naming.
#: The band and smoothing of :func:`hand_features`' energy envelope.
_SPEECH_BAND = butter(
    4, [300, 2500], btype="band", fs=SAMPLE_RATE, output="sos"
)
_SMOOTHING = np.hanning(9)[1:-1] / np.hanning(9)[1:-1].sum()
SPLITS = {
    "Train": (16, 36),
    "Validation": (4, 35),
    "Test1": (6, 32),
    "Test2": (2, 30),
}


def time_stretch(audio, tempo, frame=640, hop=320, tolerance=160):
    """Changes the speaking rate, not the pitch (WSOLA).

    Frames of ``frame`` samples are read every ``hop * tempo`` samples,
    each shifted by up to ``tolerance`` samples to continue the previous
    one best (waveform similarity), and overlap-added every ``hop``.

    Arguments
    ---------
    audio : numpy.ndarray
        Mono samples.
    tempo : float
        Speed factor: 2 plays twice as fast (half as long).
    frame, hop, tolerance : int
        Window length, output hop and search range, in samples.

    Returns
    -------
    numpy.ndarray
        float64 samples, ``len(audio) / tempo`` long.

    Example
    -------
    >>> tone = np.sin(2 * np.pi * 200 * np.arange(16000) / SAMPLE_RATE)
    >>> fast = time_stretch(tone, 2.0)
    >>> len(fast), round(float(np.abs(np.fft.rfft(fast)).argmax()) * 2, 0)
    (8000, 200.0)
    """
    n_out = int(round(len(audio) / tempo))
    pad = frame + 2 * tolerance + int(hop * tempo) + 1
    padded = np.concatenate([np.zeros(tolerance), audio, np.zeros(pad)])
    window = np.hanning(frame)
    n_frames = n_out // hop + 1
    out = np.zeros(n_frames * hop + frame)
    norm = np.zeros_like(out)
    position = tolerance
    for k in range(n_frames):
        nominal = tolerance + int(round(k * hop * tempo))
        if k > 0:
            # The frame that would continue the previous one seamlessly.
            natural = padded[position + hop : position + hop + frame]
            low = max(nominal - tolerance, 0)
            search = padded[low : nominal + tolerance + frame]
            similarity = np.correlate(search, natural, mode="valid")
            nominal = low + int(np.argmax(similarity))
        position = nominal
        out[k * hop : k * hop + frame] += padded[position:][:frame] * window
        norm[k * hop : k * hop + frame] += window
    # The first half-frame has a partial window sum; the floor avoids
    # dividing by (near) zero there.
    out /= np.maximum(norm, 0.1)
    return out[:n_out]


def add_reverb(audio, rir, drr_db):
    """Adds a room's reverberation at a chosen direct-to-reverberant ratio.

    The dry signal is the direct path; the room's tail (everything 2.5 ms
    after the impulse response's peak) is scaled so that the energy ratio
    of dry to reverberant signal is ``drr_db``.

    Arguments
    ---------
    audio : numpy.ndarray
        Dry mono samples.
    rir : numpy.ndarray
        A room impulse response at :data:`SAMPLE_RATE`.
    drr_db : float
        Direct-to-reverberant ratio in dB (lower is wetter).

    Returns
    -------
    numpy.ndarray
        float64 samples, same length.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> dry, rir = rng.standard_normal(8000), rng.standard_normal(800)
    >>> wet = add_reverb(dry, rir, 0.0)
    >>> round(float(np.mean((wet - dry) ** 2) / np.mean(dry**2)), 1)
    1.0
    """
    start = int(np.argmax(np.abs(rir))) + int(0.0025 * SAMPLE_RATE)
    tail = fftconvolve(audio, rir[start:])[: len(audio)]
    gain = np.sqrt(
        np.sum(audio**2) / (np.sum(tail**2) + 1e-12) / 10 ** (drr_db / 10)
    )
    return audio + gain * tail


def apply_factors(speech, factors, rir, background, rng):
    """Runs one utterance through the recording chain (see module doc).

    Arguments
    ---------
    speech : numpy.ndarray
        Source speech at :data:`SAMPLE_RATE`.
    factors : dict
        Factor name -> value in [-1, 1] (see :data:`FACTORS`).
    rir : numpy.ndarray
        The podcast's room impulse response.
    background : numpy.ndarray
        The podcast's background recording.
    rng : numpy.random.Generator
        Source of randomness (background offset, SNR, gain).

    Returns
    -------
    numpy.ndarray
        The float32 utterance (its length follows the tempo).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> speech = rng.standard_normal(16000) * 0.1
    >>> factors = dict.fromkeys(FACTORS, 0.0)
    >>> factors["rate"] = 1.0  # 62 % faster
    >>> audio = apply_factors(speech, factors, np.eye(1, 400)[0],
    ...                       rng.standard_normal(4000), rng)
    >>> audio.shape, audio.dtype
    ((9849,), dtype('float32'))
    """
    audio = time_stretch(speech, 2 ** (0.7 * factors["rate"]))
    audio = add_reverb(audio, rir, 24.0 - 14.0 * (factors["reverb"] + 1.0))
    offset = rng.integers(0, max(len(background) - len(audio), 1))
    noise = np.resize(background[offset:], audio.shape[0])
    snr_db = rng.uniform(14.0, 28.0)
    audio = audio + noise * np.sqrt(
        np.mean(audio**2) / (np.mean(noise**2) + 1e-12) / 10 ** (snr_db / 10)
    )
    drive = 2 ** (2.5 * factors["drive"] + 2.5)
    audio = np.tanh(drive * audio / (np.abs(audio).max() + 1e-9))
    cutoff = 3400.0 * 2 ** (1.1 * factors["bandwidth"])
    audio = sosfilt(butter(8, cutoff, fs=SAMPLE_RATE, output="sos"), audio)
    peak_dbfs = rng.uniform(-24.0, -2.0)
    audio *= 10 ** (peak_dbfs / 20) / (np.abs(audio).max() + 1e-9)
    return audio.astype(np.float32)


def ratings(factors, speaker, background, rng):
    """Arousal, dominance, valence on 1..7 (the mixing of the module doc).

    Arguments
    ---------
    factors : dict
        Factor name -> value in [-1, 1].
    speaker : int
        A key of :data:`SPEAKERS` (its rating offsets).
    background : str
        A key of :data:`BACKGROUNDS`.
    rng : numpy.random.Generator
        Source of the rater noise.

    Returns
    -------
    dict
        Dimension name -> rating.

    Example
    -------
    >>> values = ratings(dict.fromkeys(FACTORS, 0.0), 203, "dog",
    ...                  np.random.default_rng(0))
    >>> {name: round(value, 1) for name, value in values.items()}
    {'arousal': 3.7, 'dominance': 4.4, 'valence': 3.9}
    """
    energy = np.tanh(1.2 * (0.5 * factors["rate"] + 0.6 * factors["drive"]))
    offsets = dict(zip(DIMENSIONS, SPEAKERS[speaker][2], strict=True))
    z = {
        "arousal": 2.2 * energy,
        "dominance": 1.3 * energy - 1.0 * factors["reverb"],
        "valence": 1.1 * factors["bandwidth"]
        - 0.5 * factors["reverb"]
        - 0.8 * max(factors["drive"], 0.0) ** 2
        + BACKGROUNDS[background],
    }
    return {
        dimension: float(
            np.clip(
                4.0
                + z[dimension]
                + offsets[dimension]
                + rng.normal(0, RATER_NOISE),
                1.0,
                7.0,
            )
        )
        for dimension in DIMENSIONS
    }


def load_sources(source_dir=SOURCE_DIR):
    """The recordings of ``source_dir``: speech per speaker, rooms and
    backgrounds, all read at :data:`SAMPLE_RATE` (mono).

    Arguments
    ---------
    source_dir : str or os.PathLike
        Folder with ``speech_*``, ``rir_*`` and ``background_*`` files
        (``tests/data/unseen``).

    Returns
    -------
    dict
        ``{"speech": {speaker: [samples, ...]}, "rooms": [samples, ...],
        "backgrounds": {name: samples}}``.

    Raises
    ------
    FileNotFoundError
        A recording the design needs is missing (named).

    Example
    -------
    >>> sources = load_sources()
    >>> sorted(sources["backgrounds"]), len(sources["rooms"])
    (['birds', 'dog', 'thunderstorm'], 3)
    """
    folder = Path(source_dir)

    def read(stem):
        """One recording, whatever its extension."""
        found = sorted(folder.glob(f"{stem}.*"))
        if not found:
            raise FileNotFoundError(
                f"{folder}: no recording named {stem}.* (the unseen corpus "
                "needs the recordings of tests/data/unseen)"
            )
        return read_audio(found[0]).astype(np.float64)

    return {
        "speech": {
            speaker: [read(stem) for stem in stems]
            for speaker, (_, stems, _) in SPEAKERS.items()
        },
        "rooms": [read(stem) for stem in ROOMS],
        "backgrounds": {
            name: read(f"background_{name}") for name in BACKGROUNDS
        },
    }


def _source_segment(rng, clips):
    """A 2.0-4.5 s stretch of one of a speaker's recordings (or all of a
    shorter one)."""
    clip = clips[rng.integers(len(clips))]
    length = min(len(clip), int(rng.uniform(2.0, 4.5) * SAMPLE_RATE))
    start = rng.integers(0, len(clip) - length + 1)
    return clip[start : start + length]


def generate_corpus(out_dir, source_dir=SOURCE_DIR, scale=1.0, seed=2027):
    """Writes the corpus and returns the number of utterances.

    Arguments
    ---------
    out_dir : str or os.PathLike
        Corpus root to create (must not already hold a corpus).
    source_dir : str or os.PathLike
        The recordings (see :func:`load_sources`).
    scale : float
        Multiplies the number of utterances per podcast (at least 2 each).
    seed : int
        Random seed: the same seed gives the same corpus.

    Returns
    -------
    int
        The number of utterances written (all labelled).

    Raises
    ------
    FileExistsError
        The audio folder already holds files.

    Example
    -------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "corpus"
    >>> generate_corpus(out, scale=0.01)
    56
    >>> sorted(p.name for p in out.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['Audio', 'Partitions.txt', 'labels_concensus.csv',
     'unseen_factors.csv']
    """
    out = Path(out_dir)
    audio_dir = out / "Audio"
    if audio_dir.exists() and any(audio_dir.iterdir()):
        raise FileExistsError(f"{audio_dir} already holds a corpus")
    audio_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = load_sources(source_dir)
    n_podcasts = sum(count for count, _ in SPLITS.values())
    podcast_ids = sorted(rng.choice(np.arange(1, 2000), n_podcasts, False))
    speakers = list(SPEAKERS)
    rows, factor_rows = [], []
    for split, (count, per_podcast) in SPLITS.items():
        for podcast in podcast_ids[:count]:
            room = int(rng.integers(len(ROOMS)))
            background = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
            host, guest = rng.choice(speakers, 2, replace=False)
            has_guest = rng.uniform() < 0.6
            segment = 0
            for _ in range(max(2, int(per_podcast * scale))):
                # Real segment numbers skip the turns that were not kept.
                segment += int(rng.integers(1, 4))
                speaker = int(
                    guest if has_guest and rng.uniform() < 0.35 else host
                )
                factors = {name: rng.uniform(-1, 1) for name in FACTORS}
                speech = _source_segment(rng, sources["speech"][speaker])
                audio = apply_factors(
                    speech,
                    factors,
                    sources["rooms"][room],
                    sources["backgrounds"][background],
                    rng,
                )
                name = f"MSP-PODCAST_{podcast:04d}_{segment:04d}.wav"
                sf.write(audio_dir / name, audio, SAMPLE_RATE, "PCM_16")
                values = ratings(factors, speaker, background, rng)
                factor_rows.append(
                    {
                        "FileName": name,
                        **factors,
                        "background": background,
                        "room": ROOMS[room],
                        "speaker": speaker,
                    }
                )
                rows.append(
                    {
                        "FileName": name,
                        "EmoClass": emotion_class(values),
                        "EmoAct": round(values["arousal"], 4),
                        "EmoVal": round(values["valence"], 4),
                        "EmoDom": round(values["dominance"], 4),
                        "SpkrID": (
                            "Unknown" if rng.uniform() < 0.15 else speaker
                        ),
                        "Gender": SPEAKERS[speaker][0],
                        "Split_Set": split,
                    }
                )
        podcast_ids = podcast_ids[count:]
    atomic_write_csv(
        out / "unseen_factors.csv",
        ["FileName", *FACTORS, "background", "room", "speaker"],
        factor_rows,
    )
    atomic_write(
        out / "Partitions.txt",
        "".join(f"{r['Split_Set']}; {r['FileName']}\n" for r in rows),
    )
    # The labels file appears last and whole: a crash never leaves a corpus
    # that looks complete.
    atomic_write_csv(out / "labels_concensus.csv", list(rows[0]), rows)
    return len(rows)


def hand_features(audio):
    """Five hand-made features of an utterance (numpy and scipy only).

    All but the last two are read from the 300-2500 Hz band's energy
    envelope (10 ms frames, smoothed over 70 ms), where speech dominates:

    * speaking rate: centroid (Hz) of the 1-12 Hz modulation spectrum of
      the envelope over the active frames;
    * decay: the 3rd percentile of the envelope's frame-to-frame change
      (dB per 10 ms): reverberation slows the fall after each syllable;
    * dynamic range: its 90th minus 10th percentile (dB), which
      reverberation, background and saturation fill in;
    * crest factor: median over the louder 20 ms frames of peak / RMS (dB),
      which saturation flattens;
    * high-band share: energy above 3 kHz relative to 300 Hz-3 kHz (dB).

    Arguments
    ---------
    audio : numpy.ndarray
        Mono samples at :data:`SAMPLE_RATE`.

    Returns
    -------
    numpy.ndarray
        float64 [5].

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> hand_features(rng.standard_normal(32000)).shape
    (5,)
    """
    audio = np.asarray(audio, dtype=np.float64)
    audio = audio / (np.abs(audio).max() + 1e-9)
    hop = SAMPLE_RATE // 100
    speech_band = sosfilt(_SPEECH_BAND, audio)
    frames = speech_band[: len(audio) // hop * hop].reshape(-1, hop)
    envelope = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    envelope = np.convolve(envelope, _SMOOTHING, mode="same")
    active = envelope[envelope > envelope.max() - 25.0]
    active = active - active.mean()
    modulation = np.abs(np.fft.rfft(active * np.hanning(len(active))))
    rates = np.fft.rfftfreq(len(active), 1.0 / 100)
    band = (rates >= 1.0) & (rates <= 12.0)
    rate = np.sum(rates[band] * modulation[band]) / (
        np.sum(modulation[band]) + 1e-12
    )
    decay = np.percentile(np.diff(envelope), 3)
    dynamic_range = np.percentile(envelope, 90) - np.percentile(envelope, 10)
    crest = 20 * np.log10(
        np.percentile(np.abs(audio), 99.9) / np.sqrt(np.mean(audio**2))
    )
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1.0 / SAMPLE_RATE)
    high = spectrum[freqs >= 3000].sum()
    mid = spectrum[(freqs >= 300) & (freqs < 3000)].sum()
    high_share = 10 * np.log10((high + 1e-10) / (mid + 1e-10))
    return np.array([rate, decay, dynamic_range, crest, high_share])


def ridge_fit(features, targets, alpha=1.0):
    """Ridge regression on standardised features (closed form).

    Arguments
    ---------
    features : numpy.ndarray
        [N, F].
    targets : numpy.ndarray
        [N, D].
    alpha : float
        L2 penalty.

    Returns
    -------
    callable
        Maps features [M, F] to predictions [M, D].

    Example
    -------
    >>> x = np.arange(10.0)[:, None]
    >>> predict = ridge_fit(x, 2 * x + 1, alpha=0.0)
    >>> np.round(predict(np.array([[20.0]])), 6)
    array([[41.]])
    """
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-12
    x = (features - mean) / std
    offset = targets.mean(axis=0)
    weights = np.linalg.solve(
        x.T @ x + alpha * np.eye(x.shape[1]), x.T @ (targets - offset)
    )
    return lambda new: ((new - mean) / std) @ weights + offset


def ridge_baseline(corpus, train="Train", test="Test1", alpha=1.0):
    """CCC on ``test`` of a ridge regression on :func:`hand_features`
    fitted on ``train``, against the corpus's own ratings.

    Arguments
    ---------
    corpus : str or os.PathLike
        A corpus written by :func:`generate_corpus`.
    train, test : str
        Split names of the labels file.
    alpha : float
        L2 penalty of :func:`ridge_fit`.

    Returns
    -------
    dict
        ``ccc_<dimension>`` per dimension and their mean ``ccc``.

    Example
    -------
    >>> ridge_baseline("unseen_corpus")  # doctest: +SKIP
    {'ccc_arousal': ..., 'ccc_dominance': ..., 'ccc_valence': ..., 'ccc': ...}
    """
    corpus = Path(corpus)
    columns = {"arousal": "EmoAct", "dominance": "EmoDom", "valence": "EmoVal"}
    split_data = {train: ([], []), test: ([], [])}
    with open(corpus / "labels_concensus.csv", newline="") as stream:
        for row in csv.DictReader(stream):
            if row["Split_Set"] in split_data:
                audio = read_audio(corpus / "Audio" / row["FileName"])
                features, targets = split_data[row["Split_Set"]]
                features.append(hand_features(audio))
                targets.append([float(row[columns[d]]) for d in DIMENSIONS])
    (x_train, y_train), (x_test, y_test) = (
        (np.array(f), np.array(t)) for f, t in split_data.values()
    )
    predictions = ridge_fit(x_train, y_train, alpha)(x_test)
    values = ccc(predictions, y_test).tolist()
    result = {f"ccc_{d}": v for d, v in zip(DIMENSIONS, values, strict=True)}
    result["ccc"] = float(np.mean(values))
    return result


def main(argv=None):
    """Command-line entry point (see module doc).

    Arguments
    ---------
    argv : list of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        The exit status (0).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--out", help="corpus folder to write")
    action.add_argument(
        "--baseline",
        metavar="CORPUS",
        help="print the hand-feature ridge baseline's Test1 CCC on a corpus",
    )
    parser.add_argument("--source_dir", default=str(SOURCE_DIR))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args(argv)
    if args.baseline:
        result = ridge_baseline(args.baseline)
        print(
            "Ridge on hand-made features, Train -> Test1 CCC: "
            + ", ".join(f"{k} {v:.3f}" for k, v in result.items())
        )
        return 0
    count = generate_corpus(args.out, args.source_dir, args.scale, args.seed)
    print(f"Wrote {count} labelled utterances to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
