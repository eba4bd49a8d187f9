"""The modules that get exported: a student behind the ONNX interface.

:class:`OnnxStudent` accepts any clip length (short clips are padded in the
graph) and returns the scores and the student's embeddings (the features
its head reads). :class:`BranchingWav2Small` is what a Wav2Small is
exported as: its inference form
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
from speechbrain_wav2small.students import has_embeddings
from speechbrain_wav2small.utils.model_files import (
    EMBEDDINGS_OUTPUT,
    OUTPUT_NAME,
)


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
        ``forward(wavs, lengths) -> [batch, 3]`` contract; one with
        ``embed`` and ``head`` (see
        :func:`~speechbrain_wav2small.students.has_embeddings`) is run as
        ``head(embed(...))`` and also returns the embeddings.

    Attributes
    ----------
    output_names : tuple of str
        Names of the outputs, in order: ``("scores", "embeddings")``, or
        ``("scores",)`` for a student without embeddings.

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
    >>> wrapped = OnnxStudent(Wav2Small()).eval()
    >>> wavs, wav_lens = torch.randn(2, 40), torch.tensor([1.0, 0.5])
    >>> scores, embeddings = wrapped(wavs, wav_lens)
    >>> scores.shape, embeddings.shape
    (torch.Size([2, 3]), torch.Size([2, 338]))
    """

    def __init__(self, student):
        """Wraps ``student``; short clips are padded to its ``n_fft``."""
        super().__init__()
        self.student = student
        self.min_samples = int(student.front_end.n_fft)
        self.output_names = (OUTPUT_NAME,)
        if has_embeddings(student):
            self.output_names += (EMBEDDINGS_OUTPUT,)

    def forward(self, wavs, wav_lens):
        """Maps ``wavs`` [batch, time] and ``wav_lens`` [batch] to a tuple
        of scores [batch, 3] and, when the student has them, embeddings
        [batch, F]."""
        wavs, wav_lens = self.pad_short(wavs, wav_lens)
        if len(self.output_names) == 1:
            return (self.student(wavs, wav_lens),)
        embeddings = self.student.embed(wavs, wav_lens)
        return self.student.head(embeddings), embeddings

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
    the scores, the embeddings and the flag (a third output, so the export
    can find it).

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
    >>> model = Wav2Small().eval()
    >>> wrapped = BranchingWav2Small(model)
    >>> wrapped.output_names
    ('scores', 'embeddings', 'unpadded')
    >>> wavs = torch.randn(2, 8000)
    >>> scores, _, unpadded = wrapped(wavs, torch.tensor([1.0, 1.0]))
    >>> bool(unpadded), bool(torch.allclose(scores, model(wavs), atol=1e-5))
    (True, True)
    """

    #: Output name of the flag in the exported graph before branching.
    FLAG = "unpadded"

    def __init__(self, student):
        """Wraps ``student`` (in eval mode) and its fast form."""
        super().__init__(student)
        self.fast = FastWav2Small(student)
        self.output_names = (OUTPUT_NAME, EMBEDDINGS_OUTPUT, self.FLAG)

    def forward(self, wavs, wav_lens):
        """Maps ``wavs`` [batch, time] and ``wav_lens`` [batch] to scores
        [batch, 3], embeddings [batch, F] and the flag."""
        wavs, wav_lens = self.pad_short(wavs, wav_lens)
        features, frames = self.fast.front_end(wavs, wav_lens)
        unpadded = (wav_lens >= 1.0).all()
        pooled = torch.where(
            unpadded,
            self.fast.pool_features(features),
            self.fast.pool_features(features, frames),
        )
        embeddings = self.fast.embed_pooled(pooled)
        return self.fast.head(embeddings), embeddings, unpadded
