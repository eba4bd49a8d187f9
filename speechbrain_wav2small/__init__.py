"""speechbrain-wav2small: tiny speech-emotion students distilled from big
teachers, for SpeechBrain.

Every model in this package predicts three emotion dimensions per utterance,
always in the order of :data:`DIMENSIONS` and on a 0..1 scale.
"""

from speechbrain_wav2small.version import __version__

#: Output order of every model (teachers and students) in this package.
DIMENSIONS = ("arousal", "dominance", "valence")

__all__ = ["DIMENSIONS", "__version__"]
