"""SpeechBrain data pipelines shared by the teacher and distillation recipes.

Audio goes through :func:`speechbrain_wav2small.dataio.audio.read_audio` (any
format, rate and channel count); labels become float32 vectors in the order
of :data:`speechbrain_wav2small.DIMENSIONS`.

Authors
 * speechbrain-wav2small contributors 2026
"""

import speechbrain as sb
import torch

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import read_audio


def audio_pipeline(max_seconds=None, random_crop=False):
    """A dynamic item ``wav -> sig``: float32 mono 16 kHz samples.

    Arguments
    ---------
    max_seconds : float, optional
        Longer clips are cropped to this many seconds.
    random_crop : bool
        Crop at a random offset (training) rather than the start.

    Example
    -------
    >>> pipeline = audio_pipeline(max_seconds=1.0)
    >>> pipeline("tests/data/ASR_spk1_snt1.wav").shape
    torch.Size([16000])
    """
    max_samples = (
        None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    )

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def read(wav):
        """Reads (and crops) one clip."""
        samples = torch.from_numpy(read_audio(wav))
        if max_samples is not None and samples.shape[0] > max_samples:
            start = 0
            if random_crop:
                high = samples.shape[0] - max_samples + 1
                start = int(torch.randint(high, (1,)))
            samples = samples[start : start + max_samples]
        return samples

    return read


def label_pipeline(provides="targets"):
    """A dynamic item: label columns (arousal, dominance, valence) -> float32
    [3], under the name ``provides``.

    Human labels in a prepared manifest are ``targets``; teacher labels in a
    label cache are ``teacher_targets``.

    Example
    -------
    >>> pipeline = label_pipeline("teacher_targets")
    >>> pipeline("0.5", "0.25", "1.0")
    tensor([0.5000, 0.2500, 1.0000])
    """

    @sb.utils.data_pipeline.takes(*DIMENSIONS)
    @sb.utils.data_pipeline.provides(provides)
    def labels(*values):
        """The label columns as one float32 vector."""
        return torch.tensor([float(v) for v in values], dtype=torch.float32)

    return labels


def teacher_lookup_pipeline(label_cache):
    """A dynamic item ``id -> teacher_targets`` from a label cache.

    Arguments
    ---------
    label_cache : dict
        As returned by
        :func:`speechbrain_wav2small.labelling.cache.read_label_cache`
        (which checks the cache).

    Example
    -------
    >>> cache = {"labels": {"u1": {"labels": [0.5, 0.25, 1.0]}}}
    >>> teacher_lookup_pipeline(cache)("u1")
    tensor([0.5000, 0.2500, 1.0000])
    """
    labels = {
        utterance_id: torch.tensor(entry["labels"], dtype=torch.float32)
        for utterance_id, entry in label_cache["labels"].items()
    }

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("teacher_targets")
    def lookup(utterance_id):
        """The teacher's labels of one utterance."""
        return labels[utterance_id]

    return lookup
