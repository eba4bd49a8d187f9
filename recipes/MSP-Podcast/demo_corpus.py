"""A small corpus in MSP-Podcast's exact layout, for demos and tests.

MSP-Podcast is licensed, so the demo and the tests run on this stand-in. Its
labels are not random: every utterance is real or synthetic speech altered
along four acoustic factors, and the arousal, dominance and valence ratings
are fixed mixtures of those factors plus a little rater noise:

================  ===============================================  =========
factor            how it is applied                                 drives
================  ===============================================  =========
``pitch``         voice moved toward a target F0 (106-242 Hz) by    A, D
                  resampling, at most ±6 semitones; the factor is
                  the F0 actually reached
``effort``        a ±9 dB band around 2 kHz (vocal effort)          A, D, V
``tremolo``       loudness modulation at 3-6 Hz, depth 0-0.9       A
``brightness``    first-order spectral tilt, dark to bright        D, V
``noise``         real background noise at 28 dB to 3 dB SNR       V (-)
================  ===============================================  =========

A random overall gain is applied too and carries no label (the models
normalise loudness away, as real raters' labels do not follow the gain of a
recording). Ratings live on MSP's 1..7 scale.

The layout follows MSP-Podcast: ``Audios/*.wav`` (16 kHz mono int16),
``Labels/labels_consensus.csv`` with ``FileName,EmoClass,EmoAct,EmoVal,
EmoDom,SpkrID,Gender,Split_Set``, splits Train, Development, Test1, Test2
and audio-only Test3 files. ``--variant legacy`` writes the older naming
(``Audio/``, ``labels/labels_concensus.json``, ``Validation``).

Usage::

    python recipes/MSP-Podcast/demo_corpus.py --out demo_corpus \\
        --speech_dir tests/data --noise_dir tests/data

Authors
 * speechbrain-wav2small contributors 2026
"""

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import read_audio, resample
from speechbrain_wav2small.utils.durable import atomic_write, atomic_write_csv

#: Label mixtures: rating = 4 + 2.5 * (weights . factors) + noise, on 1..7.
LABEL_WEIGHTS = {
    "arousal": {"pitch": 0.65, "effort": 0.25, "tremolo": 0.1},
    "dominance": {"effort": 0.55, "pitch": 0.25, "brightness": 0.2},
    "valence": {"noise": -0.65, "brightness": 0.2, "effort": 0.15},
}
FACTORS = ("pitch", "effort", "tremolo", "brightness", "noise")
RATER_NOISE = 0.06
#: Pitch factor -1..1 <-> median F0 of 160 Hz * 2 ** (±0.6 octaves).
PITCH_CENTRE_HZ = 160.0
PITCH_OCTAVES = 0.6
MAX_SHIFT_SEMITONES = 6.0

#: Split -> (number of podcasts, utterances per podcast) at scale 1.
SPLITS = {
    "Train": (8, 45),
    "Development": (2, 40),
    "Test1": (2, 40),
    "Test2": (1, 30),
}
TEST3_UTTERANCES = 20

#: Synthetic speakers: (speaker id, gender, base F0 Hz, formant scale).
SYNTHETIC_SPEAKERS = [
    (101, "Male", 105.0, 0.92),
    (102, "Female", 205.0, 1.12),
    (103, "Male", 130.0, 1.0),
    (104, "Female", 180.0, 1.06),
]
#: Vowel formants (F1, F2, F3) in Hz, for the synthetic speakers.
VOWELS = [
    (730, 1090, 2440),
    (270, 2290, 3010),
    (530, 1840, 2480),
    (570, 840, 2410),
    (300, 870, 2240),
    (660, 1720, 2410),
]


def synthesize_speech(rng, seconds, base_f0, formant_scale):
    """Speech-like audio: harmonic syllables with vowel formants.

    Each syllable (120-320 ms) has its own vowel and a falling-rising F0
    movement around ``base_f0``; harmonics are weighted by a formant
    envelope; short noise bursts stand in for consonants.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of randomness.
    seconds : float
        Duration.
    base_f0 : float
        The speaker's mean F0 in Hz.
    formant_scale : float
        Multiplies every vowel formant (vocal-tract length).

    Returns
    -------
    speech : numpy.ndarray
        float32 samples at :data:`SAMPLE_RATE`, peak 0.5.
    t : numpy.ndarray
        The time of each sample in seconds.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> speech, t = synthesize_speech(rng, 1.0, 120.0, 1.0)
    >>> speech.shape, speech.dtype, float(np.abs(speech).max())
    ((16000,), dtype('float32'), 0.5)
    """
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = np.empty(n)
    formants = np.empty((n, 3))
    voiced = np.zeros(n)
    start = 0
    while start < n:
        length = int(rng.uniform(0.12, 0.32) * SAMPLE_RATE)
        stop = min(start + length, n)
        span = np.linspace(0, 1, stop - start)
        contour = 1 + rng.uniform(-0.15, 0.15) * np.sin(np.pi * span)
        f0[start:stop] = base_f0 * contour * rng.uniform(0.9, 1.1)
        formants[start:stop] = np.array(VOWELS[rng.integers(len(VOWELS))])
        envelope = np.sin(np.pi * span) ** 0.6
        voiced[start:stop] = envelope if rng.uniform() > 0.1 else 0.0
        start = stop
    formants *= formant_scale
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    signal = np.zeros(n)
    for harmonic in range(1, int(4000 / base_f0)):
        frequency = harmonic * f0
        gain = sum(
            np.exp(-0.5 * ((frequency - formants[:, k]) / (60 + 40 * k)) ** 2)
            / (k + 1)
            for k in range(3)
        )
        signal += gain * np.sin(harmonic * phase) / np.sqrt(harmonic)
    consonants = rng.standard_normal(n) * (voiced < 0.2) * 0.05
    speech = signal * voiced + consonants
    return (speech / (np.abs(speech).max() + 1e-9) * 0.5).astype(np.float32), t


def median_f0(audio, low_hz=60.0, high_hz=400.0):
    """Median F0 (Hz) of the voiced frames, by autocorrelation.

    Frames of 40 ms every 10 ms count as voiced when their energy is at
    least 30% of the loudest frame's and their best normalised
    autocorrelation exceeds 0.5.

    Arguments
    ---------
    audio : numpy.ndarray
        Mono samples at :data:`SAMPLE_RATE`.
    low_hz, high_hz : float
        The F0 search range.

    Returns
    -------
    float
        The median F0, or :data:`PITCH_CENTRE_HZ` when no frame is voiced.

    Example
    -------
    >>> tone = np.sin(2 * np.pi * 200 * np.arange(16000) / SAMPLE_RATE)
    >>> median_f0(tone)
    200.0
    """
    frame, hop = int(0.04 * SAMPLE_RATE), int(0.01 * SAMPLE_RATE)
    lags = np.arange(int(SAMPLE_RATE / high_hz), int(SAMPLE_RATE / low_hz))
    starts = range(0, len(audio) - frame, hop)
    energies = np.array([np.mean(audio[s : s + frame] ** 2) for s in starts])
    estimates = []
    for start, energy in zip(starts, energies, strict=True):
        if energy < 0.3 * energies.max():
            continue
        chunk = (
            audio[start : start + frame] - audio[start : start + frame].mean()
        )
        correlation = np.array(
            [np.dot(chunk[:-lag], chunk[lag:]) for lag in lags]
        ) / (np.dot(chunk, chunk) + 1e-12)
        best = int(np.argmax(correlation))
        if correlation[best] > 0.5:
            estimates.append(SAMPLE_RATE / lags[best])
    return float(np.median(estimates)) if estimates else PITCH_CENTRE_HZ


def apply_factors(speech, source_f0, factors, noise_bank, rng):
    """Alters ``speech`` along the label factors (see module doc).

    ``factors["pitch"]`` asks for a target F0; the voice moves toward it
    by at most ``MAX_SHIFT_SEMITONES`` and the factor is replaced by the
    F0 actually reached, so the label follows what is heard.

    Arguments
    ---------
    speech : numpy.ndarray
        Source speech at :data:`SAMPLE_RATE`.
    source_f0 : float
        Its median F0 in Hz.
    factors : dict
        Factor name -> value in [-1, 1] (see :data:`FACTORS`); its
        ``"pitch"`` entry is updated in place.
    noise_bank : list of numpy.ndarray
        Background noise recordings to mix in.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        The altered float32 audio (its length changes with the pitch).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> speech, _ = synthesize_speech(rng, 1.0, 120.0, 1.0)
    >>> factors = dict.fromkeys(FACTORS, 0.0)
    >>> factors["pitch"] = 0.5  # asks for 197 Hz: 8.6 semitones up
    >>> noise = [rng.standard_normal(32000)]
    >>> audio = apply_factors(speech, 120.0, factors, noise, rng)
    >>> round(factors["pitch"], 2)  # capped at 6 semitones: about 170 Hz
    0.14
    """
    target_f0 = PITCH_CENTRE_HZ * 2 ** (PITCH_OCTAVES * factors["pitch"])
    semitones = np.clip(
        12 * np.log2(target_f0 / source_f0),
        -MAX_SHIFT_SEMITONES,
        MAX_SHIFT_SEMITONES,
    )
    # Play the clip at another rate (pitch and tempo move together). Rates
    # are rounded to 100 Hz so the polyphase resampler's ratio stays small.
    play_rate = round(SAMPLE_RATE * 2 ** (semitones / 12) / 100) * 100
    reached_f0 = source_f0 * play_rate / SAMPLE_RATE
    factors["pitch"] = float(
        np.clip(np.log2(reached_f0 / PITCH_CENTRE_HZ) / PITCH_OCTAVES, -1, 1)
    )
    audio = resample(speech, play_rate, SAMPLE_RATE).astype(np.float64)
    t = np.arange(audio.shape[0]) / SAMPLE_RATE
    depth = 0.45 * (factors["tremolo"] + 1.0)
    rate = rng.uniform(3.0, 6.0)
    audio *= 1.0 + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 6))
    audio = band_gain(audio, 2000.0, 9.0 * factors["effort"])
    tilt = 0.85 * factors["brightness"]
    audio[1:] = audio[1:] - tilt * audio[:-1]
    noise = noise_bank[rng.integers(len(noise_bank))]
    offset = rng.integers(0, max(len(noise) - len(audio), 1))
    noise = np.resize(noise[offset:], audio.shape[0]).astype(np.float64)
    snr_db = 15.5 - 12.5 * factors["noise"]
    speech_power = np.mean(audio**2) + 1e-12
    noise_power = np.mean(noise**2) + 1e-12
    audio += noise * np.sqrt(speech_power / noise_power / 10 ** (snr_db / 10))
    peak_dbfs = rng.uniform(-20.0, -3.0)
    audio *= 10 ** (peak_dbfs / 20) / (np.abs(audio).max() + 1e-9)
    return audio.astype(np.float32)


def band_gain(audio, centre_hz, gain_db, octaves=0.6):
    """Boosts (or cuts) a band around ``centre_hz`` by ``gain_db``, with a
    Gaussian gain curve on a log-frequency axis (applied in the FFT domain).

    Arguments
    ---------
    audio : numpy.ndarray
        Mono samples at :data:`SAMPLE_RATE`.
    centre_hz : float
        Centre of the band.
    gain_db : float
        Gain at the centre (negative cuts).
    octaves : float
        Standard deviation of the gain curve, in octaves.

    Returns
    -------
    numpy.ndarray
        The filtered float64 audio, same length.

    Example
    -------
    >>> audio = np.random.default_rng(0).standard_normal(1000)
    >>> bool(np.allclose(band_gain(audio, 2000.0, 0.0), audio))
    True
    """
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(audio.shape[0], 1.0 / SAMPLE_RATE)
    distance = np.log2(np.maximum(freqs, 1.0) / centre_hz) / octaves
    gain = 10 ** (gain_db * np.exp(-0.5 * distance**2) / 20)
    return np.fft.irfft(spectrum * gain, n=audio.shape[0])


def ratings(factors, rng):
    """Arousal, dominance, valence on 1..7 from the factors.

    Each is ``4 + 2.5 * (weights . factors + noise)``, clipped, with the
    weights of :data:`LABEL_WEIGHTS` and Gaussian rater noise of standard
    deviation :data:`RATER_NOISE`.

    Arguments
    ---------
    factors : dict
        Factor name -> value in [-1, 1].
    rng : numpy.random.Generator
        Source of the rater noise.

    Returns
    -------
    dict
        Dimension name -> rating.

    Example
    -------
    >>> values = ratings(dict.fromkeys(FACTORS, 0.0), np.random.default_rng(0))
    >>> {name: round(value, 1) for name, value in values.items()}
    {'arousal': 4.0, 'dominance': 4.0, 'valence': 4.1}
    """
    values = {}
    for dimension, weights in LABEL_WEIGHTS.items():
        z = sum(w * factors[name] for name, w in weights.items())
        z += rng.normal(0, RATER_NOISE)
        values[dimension] = float(np.clip(4.0 + 2.5 * z, 1.0, 7.0))
    return values


def emotion_class(values):
    """A categorical label in MSP's letters, from the quadrant.

    Arguments
    ---------
    values : dict
        Ratings on 1..7 with ``arousal`` and ``valence`` entries.

    Returns
    -------
    str
        ``"H"`` (happy), ``"A"`` (angry), ``"S"`` (sad) or ``"N"``
        (neutral).

    Example
    -------
    >>> emotion_class({"arousal": 6.0, "valence": 5.0})
    'H'
    >>> emotion_class({"arousal": 3.0, "valence": 2.0})
    'S'
    """
    if values["arousal"] > 4.5:
        return "H" if values["valence"] > 4 else "A"
    if values["valence"] < 3.5:
        return "S"
    return "N"


def _load_sources(speech_dir, noise_dir):
    """Real speech clips (name, samples, median F0) and noise recordings."""
    speech_files = sorted(Path(speech_dir).glob("*.wav"))
    speech = []
    for path in speech_files:
        if not path.stem.startswith("noise"):
            clip = read_audio(path)
            speech.append((path.stem, clip, median_f0(clip)))
    noise = [
        read_audio(path)
        for path in sorted(Path(noise_dir).glob("*.wav"))
        if path.stem.startswith("noise")
    ]
    if not speech or not noise:
        raise FileNotFoundError(
            f"need speech *.wav in {speech_dir} and noise*.wav in {noise_dir}"
        )
    return speech, noise


def _real_speaker(stem):
    """(speaker id, gender) of a real recording of ``tests/data``."""
    # ASR_spk1_snt1 -> speaker 1, TTS_LJ... -> speaker 3 (one reader each);
    # genders as their median F0 suggests (about 225, 160 and 235 Hz).
    if "spk1" in stem:
        return 1, "Female"
    if "spk2" in stem:
        return 2, "Male"
    return 3, "Female"


def _utterance(rng, speech_sources):
    """Source speech for one utterance: (samples, F0, speaker, gender)."""
    if rng.uniform() < 0.5:
        stem, clip, f0 = speech_sources[rng.integers(len(speech_sources))]
        seconds = rng.uniform(1.6, 3.5)
        length = min(len(clip), int(seconds * SAMPLE_RATE))
        start = rng.integers(0, len(clip) - length + 1)
        speaker, gender = _real_speaker(stem)
        return clip[start : start + length], f0, speaker, gender
    speaker, gender, f0, scale = SYNTHETIC_SPEAKERS[
        rng.integers(len(SYNTHETIC_SPEAKERS))
    ]
    speech, _ = synthesize_speech(rng, rng.uniform(1.6, 3.5), f0, scale)
    return speech, f0, speaker, gender


def generate_corpus(
    out_dir, speech_dir, noise_dir, scale=1.0, seed=1234, variant="current"
):
    """Writes the corpus and returns the number of labelled utterances.

    Arguments
    ---------
    out_dir : str
        Corpus root to create (must not already hold a corpus).
    speech_dir, noise_dir : str
        Folders of real speech ``*.wav`` and ``noise*.wav`` recordings.
    scale : float
        Multiplies the number of utterances per podcast.
    seed : int
        Random seed: the same seed gives the same corpus.
    variant : str
        ``"current"`` (v1.10+ naming, CSV) or ``"legacy"`` (``Audio/``,
        ``labels/labels_concensus.json``, ``Validation`` split).

    Returns
    -------
    int
        The number of labelled utterances (Test3 excluded).

    Raises
    ------
    FileExistsError
        The audio folder already holds files.
    FileNotFoundError
        No speech or no noise recordings were found.
    """
    if variant not in ("current", "legacy"):
        raise ValueError(f"variant must be current or legacy, not {variant}")
    out = Path(out_dir)
    legacy = variant == "legacy"
    audio_dir = out / ("Audio" if legacy else "Audios")
    if audio_dir.exists() and any(audio_dir.iterdir()):
        raise FileExistsError(f"{audio_dir} already holds a corpus")
    audio_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    speech_sources, noise_bank = _load_sources(speech_dir, noise_dir)
    rows, factor_rows = [], []
    podcast = 0
    for split, (n_podcasts, per_podcast) in SPLITS.items():
        for _ in range(n_podcasts):
            podcast += 1
            for segment in range(1, max(2, int(per_podcast * scale)) + 1):
                factors = {name: rng.uniform(-1, 1) for name in FACTORS}
                speech, f0, speaker, gender = _utterance(rng, speech_sources)
                audio = apply_factors(speech, f0, factors, noise_bank, rng)
                name = f"MSP-PODCAST_{podcast:04d}_{segment:04d}.wav"
                sf.write(audio_dir / name, audio, SAMPLE_RATE, "PCM_16")
                values = ratings(factors, rng)
                factor_rows.append({"FileName": name, **factors})
                rows.append(
                    {
                        "FileName": name,
                        "EmoClass": emotion_class(values),
                        "EmoAct": round(values["arousal"], 4),
                        "EmoVal": round(values["valence"], 4),
                        "EmoDom": round(values["dominance"], 4),
                        # Like the real corpus, some speakers are unknown.
                        "SpkrID": "Unknown" if rng.uniform() < 0.1 else speaker,
                        "Gender": gender,
                        "Split_Set": (
                            "Validation"
                            if legacy and split == "Development"
                            else split
                        ),
                    }
                )
    for index in range(1, max(2, int(TEST3_UTTERANCES * scale)) + 1):
        factors = {name: rng.uniform(-1, 1) for name in FACTORS}
        speech, f0, _, _ = _utterance(rng, speech_sources)
        audio = apply_factors(speech, f0, factors, noise_bank, rng)
        sf.write(
            audio_dir / f"MSP-PODCAST_test3_{index:04d}.wav",
            audio,
            SAMPLE_RATE,
            "PCM_16",
        )
    # Not part of MSP's layout: the generator's ground truth, for checks.
    atomic_write_csv(
        out / "demo_factors.csv", ["FileName", *FACTORS], factor_rows
    )
    _write_labels(out, rows, legacy)
    return len(rows)


def _write_labels(out, rows, legacy):
    """Writes the consensus labels file (CSV, or legacy JSON) last and whole."""
    # The labels file appears last and whole: a crash never leaves a corpus
    # that looks complete.
    label_dir = out / ("labels" if legacy else "Labels")
    if legacy:
        content = {
            row["FileName"]: {k: v for k, v in row.items() if k != "FileName"}
            for row in rows
        }
        atomic_write(
            label_dir / "labels_concensus.json", json.dumps(content, indent=1)
        )
    else:
        atomic_write_csv(
            label_dir / "labels_consensus.csv", list(rows[0]), rows
        )


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
    parser.add_argument("--out", required=True, help="corpus folder")
    parser.add_argument("--speech_dir", default="tests/data")
    parser.add_argument("--noise_dir", default="tests/data")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--variant", choices=("current", "legacy"), default="current"
    )
    args = parser.parse_args(argv)
    count = generate_corpus(
        args.out,
        args.speech_dir,
        args.noise_dir,
        args.scale,
        args.seed,
        args.variant,
    )
    print(f"Wrote {count} labelled utterances to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
