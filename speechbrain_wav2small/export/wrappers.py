"""The modules that get exported: a student behind the ONNX interface.

:class:`OnnxStudent` accepts any clip length (short clips are padded in the
graph). :class:`BranchingWav2Small` is what a Wav2Small is exported as:
its inference form
(:class:`~speechbrain_wav2small.lobes.fast_wav2small.FastWav2Small`:
channels padded to onnxruntime's blocked layout, time as the contiguous
axis, BatchNorm folded), computed with and without length masks, so that
the export can run the masked path only for padded batches.

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_wav2small.lobes.fast_wav2small import FastWav2Small


class OnnxStudent(nn.Module):
    """What gets exported: a student plus in-graph padding of short clips.

    A clip shorter than the front end's window is zero-padded to one window
    here, with its relative length rescaled so the padding stays masked, so
    the ONNX graph accepts any length >= 1 sample. (The student's own check
    is a Python ``if`` on the shape, which the exporter would freeze.)

    Arguments
    ---------
    student : torch.nn.Module
        A student with a ``front_end.n_fft`` and the
        ``forward(wavs, lengths) -> [batch, 3]`` contract.

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
    >>> wrapped = OnnxStudent(Wav2Small()).eval()
    >>> wrapped(torch.randn(2, 40), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 3])
    """

    def __init__(self, student):
        """Wraps ``student``; short clips are padded to its ``n_fft``."""
        super().__init__()
        self.student = student
        self.min_samples = int(student.front_end.n_fft)

    def forward(self, wavs, wav_lens):
        """Maps ``wavs`` [batch, time] and ``wav_lens`` [batch] to scores
        [batch, 3]."""
        return self.student(*self.pad_short(wavs, wav_lens))

    def pad_short(self, wavs, wav_lens):
        """Pads clips shorter than one window, rescaling ``wav_lens``."""
        total = wavs.shape[1]
        # sym_max keeps the length symbolic in the exported graph.
        padded_total = torch.sym_max(total, self.min_samples)
        wavs = F.pad(wavs, (0, padded_total - total))
        return wavs, wav_lens * (total / padded_total)


class BranchingWav2Small(OnnxStudent):
    """What gets exported for a Wav2Small: its fast form, masks optional.

    The attention-pooled maps are computed without masks (right for
    unpadded batches) and with masks (right for any batch) and one is
    picked with ``torch.where`` on whether the batch is unpadded; the
    export turns that choice into an ``If`` that computes only the picked
    path (:func:`~speechbrain_wav2small.export.graph.lazy_where`). Returns
    the scores and the flag (a second output, so the export can find it).

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
    >>> model = Wav2Small().eval()
    >>> wrapped = BranchingWav2Small(model)
    >>> wavs = torch.randn(2, 8000)
    >>> scores, unpadded = wrapped(wavs, torch.tensor([1.0, 1.0]))
    >>> bool(unpadded), bool(torch.allclose(scores, model(wavs), atol=1e-5))
    (True, True)
    """

    #: Output name of the flag in the exported graph before branching.
    FLAG = "unpadded"

    def __init__(self, student):
        """Wraps ``student`` (in eval mode) and its fast form."""
        super().__init__(student)
        self.fast = FastWav2Small(student)

    def forward(self, wavs, wav_lens):
        """Maps ``wavs`` [batch, time] and ``wav_lens`` [batch] to scores
        [batch, 3] and the flag."""
        wavs, wav_lens = self.pad_short(wavs, wav_lens)
        features, frames = self.fast.front_end(wavs, wav_lens)
        unpadded = (wav_lens >= 1.0).all()
        pooled = torch.where(
            unpadded,
            self.fast.pool_features(features),
            self.fast.pool_features(features, frames),
        )
        return self.fast.score(pooled), unpadded
