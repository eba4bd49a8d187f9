"""Ready-to-use emotion-dimension predictor (SpeechBrain ``Pretrained``).

Loads a packaged student (a folder or a model-hub repository written by
``wav2small package`` or ``wav2small import-audeering``) and predicts
arousal, dominance and valence (0..1 nominal) from waveforms or files.

Authors
 * speechbrain-wav2small contributors 2026
"""

import dataclasses
import os

import numpy as np
import torch
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.fetching import FetchConfig

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.inference.file_prediction import (
    FilePredictor,
    pad_arrays,
)
from speechbrain_wav2small.students import has_embeddings
from speechbrain_wav2small.utils.hub import (
    check_source,
    find_hub_failure,
    hub_error,
    split_revision,
)
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
        model.embed_file("speech.wav")["embedding"]  # numpy [338]
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
    def from_hparams(
        cls, source, hparams_file=HPARAMS_FILE, revision=None, **kwargs
    ):
        """Loads from a local folder or a model-hub id (``owner/name``).

        Runs on the CPU unless ``run_opts={"device": ...}`` says otherwise
        (a 10K-parameter model gains nothing from a GPU). A local-looking
        path that does not exist is an error here, instead of being sent to
        the model hub as a repository id. A hub id is fetched by
        SpeechBrain through ``huggingface_hub`` into its cache (read
        offline with ``HF_HUB_OFFLINE=1``); a failure is one
        ``FileNotFoundError`` naming the id, the revision and why.

        Arguments
        ---------
        source : str or os.PathLike
            Folder, or hub repository id (``owner/name``, or
            ``owner/name@revision`` to pin a branch, tag or commit).
        hparams_file : str
            Name of the hyperparameters file in ``source``.
        revision : str, optional
            Branch, tag or commit hash of a hub id (SpeechBrain's
            ``FetchConfig(revision=...)``); default: its main branch.
        **kwargs : dict
            Passed on to ``Pretrained.from_hparams`` (``savedir``,
            ``run_opts``, ``overrides``, ``fetch_config``...).

        Returns
        -------
        EmotionDimensions
        """
        kwargs.setdefault("run_opts", {"device": "cpu"})
        # SpeechBrain ``FetchSource`` objects say where to fetch from
        # themselves; they go through as they are.
        if not isinstance(source, (str, os.PathLike)):
            return super().from_hparams(source, hparams_file, **kwargs)
        if not check_source(source, "model folder"):
            if revision:
                raise ValueError(
                    f"revision {revision!r} was given for the local folder "
                    f"{os.fspath(source)}: revisions are for hub ids"
                )
            source = os.path.expanduser(os.fspath(source))
            return super().from_hparams(source, hparams_file, **kwargs)
        repo_id, revision = split_revision(source, revision)
        fetch_config = kwargs.get("fetch_config") or FetchConfig()
        if revision:
            # A savedir keeps the files of whatever revision filled it
            # first; updating makes it follow the revision asked for.
            fetch_config = dataclasses.replace(
                fetch_config,
                revision=revision,
                allow_updates=fetch_config.allow_updates
                or kwargs.get("savedir") is not None,
            )
        kwargs["fetch_config"] = fetch_config
        try:
            return super().from_hparams(repo_id, hparams_file, **kwargs)
        except Exception as error:
            failure = find_hub_failure(error)
            if failure is None:
                raise
            offline = None
            if not fetch_config.allow_network:
                offline = "fetch_config.allow_network is False"
            raise hub_error(
                repo_id,
                revision,
                "model",
                failure,
                cache_dir=fetch_config.huggingface_cache_dir,
                offline=offline,
            ) from None

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
        wavs, wav_lens = self._batch(wavs, wav_lens)
        with torch.no_grad():
            return self.mods.model(wavs, wav_lens).float()

    def embed_batch(self, wavs, wav_lens=None):
        """The embeddings of a batch of waveforms: the pooled features the
        model's head reads (``model.embed``), e.g. to train a classifier
        on; ``predict_batch`` is the head on them.

        Arguments
        ---------
        wavs : torch.Tensor or numpy.ndarray
            [batch, time] or [time], mono, at ``sample_rate`` (16 kHz).
        wav_lens : torch.Tensor, optional
            Relative lengths [batch] in (0, 1]; all 1 when omitted.

        Returns
        -------
        torch.Tensor
            float32 [batch, F] (F = 338 for Wav2Small, 1024 or 1280 for
            the MobileNets).

        Raises
        ------
        ValueError
            The model has no ``embed`` and ``head`` (a student of one's
            own that only honours ``forward``).
        """
        wavs, wav_lens = self._batch(wavs, wav_lens)
        with torch.no_grad():
            return self._embedding_model().embed(wavs, wav_lens).float()

    @property
    def embedding_size(self):
        """F, the length of the model's embeddings (raises ``ValueError``
        as :meth:`embed_batch` does for a model without them)."""
        silence = torch.zeros(1, self.sample_rate)
        return int(self.embed_batch(silence).shape[1])

    def _embedding_model(self):
        """The model, checked to have ``embed`` and ``head``."""
        model = self.mods.model
        if not has_embeddings(model):
            raise ValueError(
                f"this model ({type(model).__name__}) has no "
                "embed(wavs, lengths) and head, so it gives no embeddings; "
                "the students of speechbrain-wav2small all have them"
            )
        return model

    def _batch(self, wavs, wav_lens):
        """``wavs`` as float32 [batch, time] and ``wav_lens`` (all 1 when
        None) as float32 [batch], on the model's device."""
        wavs = torch.as_tensor(wavs, dtype=torch.float32)
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        wav_lens = torch.as_tensor(wav_lens, dtype=torch.float32)
        return wavs.to(self.device), wav_lens.to(self.device)

    def _predict_arrays(self, arrays):
        """Predicts 1-D float32 arrays; returns numpy float64 [n, 3]."""
        wavs, lengths = pad_arrays(arrays)
        scores = self.predict_batch(
            torch.from_numpy(wavs), torch.from_numpy(lengths)
        )
        return scores.cpu().numpy().astype(np.float64)

    def _predict_and_embed_arrays(self, arrays):
        """Scores [n, 3] and embeddings [n, F] (numpy float64) of 1-D
        float32 arrays, from one pass: the head on the embeddings."""
        wavs, lengths = self._batch(*map(torch.from_numpy, pad_arrays(arrays)))
        model = self._embedding_model()
        with torch.no_grad():
            embeddings = model.embed(wavs, lengths)
            scores = model.head(embeddings)
        return tuple(
            values.float().cpu().numpy().astype(np.float64)
            for values in (scores, embeddings)
        )

    def forward(self, wavs, wav_lens=None):
        """Runs :meth:`predict_batch`."""
        return self.predict_batch(wavs, wav_lens)
