"""Real speech shipped with the package, for checks that need audio.

An export's int8 gate and a package's reload check compare two models on
speech. When the user gives no held-out audio of their own, these short
read-speech recordings (``speechbrain_wav2small/data/speech``, Apache-2.0)
are used, cut into overlapping windows so that the comparison has enough
clips for a corpus-level CCC.

Authors
 * speechbrain-wav2small contributors 2026
"""

from pathlib import Path

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import find_audio_files, read_audio

SPEECH_FOLDER = Path(__file__).resolve().parents[1] / "data" / "speech"


def reference_speech_files():
    """The shipped recordings, sorted by name.

    Example
    -------
    >>> len(reference_speech_files())
    6
    """
    return find_audio_files(SPEECH_FOLDER)


def reference_speech_clips(
    window=1.0, hop=0.5, count=None, sample_rate=SAMPLE_RATE
):
    """Windows of the shipped recordings as float32 arrays.

    Arguments
    ---------
    window, hop : float
        Window length and step in seconds; the last window of a recording
        ends at its last sample.
    count : int, optional
        Keep only the first ``count`` windows.
    sample_rate : int
        Rate of the returned arrays in Hz.

    Returns
    -------
    list of numpy.ndarray

    Example
    -------
    >>> clips = reference_speech_clips()
    >>> len(clips) >= 20, clips[0].shape, str(clips[0].dtype)
    (True, (16000,), 'float32')
    """
    size, step = int(window * sample_rate), int(hop * sample_rate)
    clips = []
    for path in reference_speech_files():
        audio = read_audio(path, sample_rate)
        starts = list(range(0, max(len(audio) - size, 0) + 1, step))
        if starts[-1] + size < len(audio):
            starts.append(len(audio) - size)
        clips.extend(audio[start : start + size] for start in starts)
    return clips[:count]
