"""Ready-to-use emotion-dimension predictor (SpeechBrain ``Pretrained``).

Loads a packaged student (a folder or a model-hub repository written by
``wav2small package`` or ``wav2small import-audeering``) and predicts
arousal, dominance and valence (0..1 nominal) from waveforms or files.

Authors
 * speechbrain-wav2small contributors 2026
"""

import os

import numpy as np
import torch
from speechbrain.inference.interfaces import Pretrained

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.inference.file_prediction import (
    FilePredictor,
    pad_arrays,
)
from speechbrain_wav2small.utils.hub import check_source
from speechbrain_wav2small.utils.model_files import HPARAMS_FILE


class EmotionDimensions(FilePredictor, Pretrained):
    """Predicts arousal, dominance and valence from speech.

    The hyperparameters file must define ``modules`` with a ``model``
    (``forward(wavs, wav_lens) -> [batch, 3]``), ``sample_rate``,
    ``dimensions`` and a ``pretrainer``. File methods read any format,
    sample rate and channel count through
    :func:`speechbrain_wav2small.dataio.audio.read_audio`; long files are read
    window by window (see
    :mod:`speechbrain_wav2small.inference.file_prediction`).

    Arguments
    ---------
    See ``speechbrain.inference.interfaces.Pretrained``.

    Example
    -------
    Loading needs a packaged folder or a hub repository::

        model = EmotionDimensions.from_hparams(
            source="exports/wav2small-package",
            savedir="pretrained_models/wav2small",
        )
        model.predict_file("speech.wav")
        # {'arousal': 0.61, 'dominance': 0.55, 'valence': 0.42}
        model.predict_file("podcast.flac", window=3.0, hop=1.0)["windows"]
    """

    HPARAMS_NEEDED = ["sample_rate", "dimensions"]
    MODULES_NEEDED = ["model"]

    def __init__(self, *args, **kwargs):
        """Checks the model's outputs (see ``Pretrained``)."""
        super().__init__(*args, **kwargs)
        if "model" not in self.mods:
            raise ValueError("hyperparams 'modules' must contain a 'model'")
        if tuple(self.hparams.dimensions) != DIMENSIONS:
            raise ValueError(
                f"model outputs {list(self.hparams.dimensions)}, expected "
                f"{list(DIMENSIONS)}"
            )
        self.sample_rate = int(self.hparams.sample_rate)

    @classmethod
    def from_hparams(cls, source, hparams_file=HPARAMS_FILE, **kwargs):
        """Loads from a local folder or a model-hub id (``owner/name``).

        Runs on the CPU unless ``run_opts={"device": ...}`` says otherwise
        (a 10K-parameter model gains nothing from a GPU). A local-looking
        path that does not exist is an error here, instead of being sent to
        the model hub as a repository id.

        Arguments
        ---------
        source : str or os.PathLike
            Folder, or hub repository id.
        hparams_file : str
            Name of the hyperparameters file in ``source``.
        **kwargs : dict
            Passed on to ``Pretrained.from_hparams`` (``savedir``,
            ``run_opts``, ``overrides``...).

        Returns
        -------
        EmotionDimensions
        """
        # SpeechBrain ``FetchSource`` objects say where to fetch from
        # themselves; they go through as they are.
        if isinstance(source, (str, os.PathLike)):
            if not check_source(source, "model folder"):
                source = os.path.expanduser(os.fspath(source))
        kwargs.setdefault("run_opts", {"device": "cpu"})
        return super().from_hparams(source, hparams_file, **kwargs)

    def predict_batch(self, wavs, wav_lens=None):
        """Predicts a batch of waveforms.

        Arguments
        ---------
        wavs : torch.Tensor or numpy.ndarray
            [batch, time] or [time], mono, at ``sample_rate`` (16 kHz).
        wav_lens : torch.Tensor, optional
            Relative lengths [batch] in (0, 1]; all 1 when omitted.

        Returns
        -------
        torch.Tensor
            float32 [batch, 3]: arousal, dominance, valence.
        """
        wavs = torch.as_tensor(wavs, dtype=torch.float32)
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        wavs = wavs.to(self.device)
        wav_lens = torch.as_tensor(wav_lens, dtype=torch.float32)
        with torch.no_grad():
            return self.mods.model(wavs, wav_lens.to(self.device)).float()

    def _predict_arrays(self, arrays):
        """Predicts 1-D float32 arrays; returns numpy float64 [n, 3]."""
        wavs, lengths = pad_arrays(arrays)
        scores = self.predict_batch(
            torch.from_numpy(wavs), torch.from_numpy(lengths)
        )
        return scores.cpu().numpy().astype(np.float64)

    def forward(self, wavs, wav_lens=None):
        """Runs :meth:`predict_batch`."""
        return self.predict_batch(wavs, wav_lens)
