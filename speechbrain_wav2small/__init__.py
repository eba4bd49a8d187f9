"""speechbrain-wav2small: tiny speech-emotion students distilled from big
teachers, for SpeechBrain.

Every model in this package predicts three emotion dimensions per utterance,
always in the order of :data:`DIMENSIONS` and on a 0..1 scale.
"""

from speechbrain_wav2small.version import __version__

#: Output order of every model (teachers and students) in this package.
DIMENSIONS = ("arousal", "dominance", "valence")

#: Sample rate (Hz) of every model's input; audio is resampled to it on load.
SAMPLE_RATE = 16000

__all__ = ["DIMENSIONS", "SAMPLE_RATE", "__version__"]
