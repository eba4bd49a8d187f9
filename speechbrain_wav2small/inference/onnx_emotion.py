"""Emotion-dimension prediction with onnxruntime only (no PyTorch).

The same API as
:class:`speechbrain_wav2small.inference.emotion.EmotionDimensions`
(``predict_batch``, ``predict_file``, ``predict_files``, ``embed_batch``,
``embed_file``), on numpy arrays,
for the files written by :mod:`speechbrain_wav2small.export`. Importing
and running it needs numpy, soundfile and onnxruntime, nothing else.

Authors
 * speechbrain-wav2small contributors 2026
"""

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.inference.file_prediction import (
    FilePredictor,
    check_batch,
    pad_arrays,
)
from speechbrain_wav2small.utils.hub import resolve_source
from speechbrain_wav2small.utils.model_files import (
    CARD_FILE,
    EMBEDDINGS_OUTPUT,
    EXPORT_REPORT_FILE,
    LENGTHS_INPUT,
    ONNX_FILES,
    SESSION_CONFIG_KEY,
    WAVS_INPUT,
    WEIGHTS_ONLY_CONFIG,  # noqa: F401 - also imported from here
)

#: What a hub snapshot fetches: the ONNX files and the model's metadata.
HUB_FILES = [*ONNX_FILES, EXPORT_REPORT_FILE, CARD_FILE]


def session_options(threads=None, config=None):
    """onnxruntime session options for an exported student.

    Arguments
    ---------
    threads : int, optional
        Intra-op threads (onnxruntime's default when omitted).
    config : dict, optional
        Session config entries (see :data:`SESSION_CONFIG_KEY`).

    Example
    -------
    >>> options = session_options(threads=1)
    >>> options.intra_op_num_threads
    1
    """
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = int(threads)
    for key, value in (config or {}).items():
        options.add_session_config_entry(key, value)
    return options


def load_session(model, threads=None):
    """An onnxruntime CPU session with the settings the file asks for.

    Arguments
    ---------
    model : str or bytes
        Path of an exported model, or its serialised bytes.
    threads : int, optional
        Intra-op threads.

    Returns
    -------
    onnxruntime.InferenceSession
    """
    providers = ["CPUExecutionProvider"]
    session = onnxruntime.InferenceSession(
        model, session_options(threads), providers=providers
    )
    wanted = session.get_modelmeta().custom_metadata_map.get(SESSION_CONFIG_KEY)
    if wanted:
        session = onnxruntime.InferenceSession(
            model,
            session_options(threads, json.loads(wanted)),
            providers=providers,
        )
    return session


def find_onnx_model(source, prefer_int8=True, revision=None):
    """The ``.onnx`` file for ``source``.

    Arguments
    ---------
    source : str or os.PathLike
        An ONNX file, a folder holding one of :data:`ONNX_FILES`, or a hub
        id (``owner/name`` or ``owner/name@revision``, optionally after
        ``hf://``, see :mod:`speechbrain_wav2small.utils.hub`) whose
        snapshot holds one; only :data:`HUB_FILES` are fetched.
    prefer_int8 : bool
        In a folder holding both, take the int8 file.
    revision : str, optional
        Branch, tag or commit of a hub id (default: its main branch).

    Returns
    -------
    str
        The path of the file.

    Example
    -------
    >>> find_onnx_model("/nonexistent.onnx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: ONNX model /nonexistent.onnx does not exist (...)
    """
    found = resolve_source(
        source, "ONNX model", HUB_FILES, folder=False, revision=revision
    )
    if found.is_file():
        return str(found)
    names = ONNX_FILES if prefer_int8 else ONNX_FILES[::-1]
    for name in names:
        path = found / name
        if path.is_file():
            return str(path)
    where = os.fspath(source)
    if found != Path(where).expanduser():
        where = f"{where} (hub snapshot {found})"
    raise FileNotFoundError(f"no {' or '.join(names)} in folder {where}")


class OnnxEmotionDimensions(FilePredictor):
    """Predicts arousal, dominance and valence with an exported model.

    Arguments
    ---------
    source : str or os.PathLike
        An ``.onnx`` file, a folder holding ``model.int8.onnx`` and/or
        ``model.onnx``, or a hub id (``owner/name``, or
        ``owner/name@revision``; ``hf://owner/name`` when a local folder
        ``owner/`` exists) of such a folder, fetched into the
        ``huggingface_hub`` cache (read offline with ``HF_HUB_OFFLINE=1``).
        No code from the folder runs: onnxruntime only evaluates the
        graph.
    prefer_int8 : bool
        In a folder holding both, take the int8 model.
    threads : int, optional
        onnxruntime intra-op threads (its default when omitted).
    revision : str, optional
        Branch, tag or commit hash of a hub id (default: its main branch).

    Example
    -------
    Needs an exported model::

        model = OnnxEmotionDimensions("exports/wav2small")
        model.predict_file("speech.wav")
        # {'arousal': 0.61, 'dominance': 0.55, 'valence': 0.42}
        model.embed_file("speech.wav")["embedding"]  # numpy [338]
    """

    def __init__(self, source, prefer_int8=True, threads=None, revision=None):
        self.path = find_onnx_model(source, prefer_int8, revision)
        try:
            self.session = load_session(self.path, threads)
        except Exception as error:
            raise ValueError(
                f"{self.path} is not a usable ONNX model: {error}"
            ) from None
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.sample_rate = int(self.metadata.get("sample_rate", SAMPLE_RATE))
        names = self.metadata.get("output_names")
        self.dimensions = tuple(json.loads(names)) if names else DIMENSIONS
        if self.dimensions != DIMENSIONS:
            raise ValueError(
                f"{self.path} outputs {list(self.dimensions)}, expected "
                f"{list(DIMENSIONS)}"
            )
        self.input_names = [i.name for i in self.session.get_inputs()]
        if self.input_names[:1] != [WAVS_INPUT]:
            raise ValueError(
                f"{self.path} has inputs {self.input_names}; expected "
                f"'{WAVS_INPUT}' (and '{LENGTHS_INPUT}'), as written by "
                "wav2small export"
            )

    def predict_batch(self, wavs, wav_lens=None):
        """Predicts a batch of waveforms.

        Arguments
        ---------
        wavs : numpy.ndarray
            [batch, time] or [time], mono, at ``sample_rate`` (16 kHz).
        wav_lens : numpy.ndarray, optional
            Relative lengths [batch] in (0, 1]; all 1 when omitted.

        Returns
        -------
        numpy.ndarray
            float32 [batch, 3]: arousal, dominance, valence.

        Raises
        ------
        ValueError
            A batch that is not [batch, time] or [time], empty, with NaN
            or Inf samples, or lengths that are not one per clip in
            (0, 1] (see ``file_prediction.check_batch``).
        """
        # The first output is the scores in every file we have written.
        first = self.session.get_outputs()[0].name
        return self._run(wavs, wav_lens, [first])[0]

    def embed_batch(self, wavs, wav_lens=None):
        """The embeddings of a batch of waveforms: the file's
        ``embeddings`` output, the pooled features the model's head reads
        (the same numbers as ``EmotionDimensions.embed_batch`` for a float
        file; an int8 file's are its own).

        Arguments
        ---------
        wavs : numpy.ndarray
            [batch, time] or [time], mono, at ``sample_rate`` (16 kHz).
        wav_lens : numpy.ndarray, optional
            Relative lengths [batch] in (0, 1]; all 1 when omitted.

        Returns
        -------
        numpy.ndarray
            float32 [batch, F] (F = 338 for Wav2Small).

        Raises
        ------
        ValueError
            The file has no embeddings output (exported before they were
            added): re-export it; a batch that :meth:`predict_batch`
            refuses.
        """
        return self._run(wavs, wav_lens, [self._embeddings_output()])[0]

    @property
    def embedding_size(self):
        """F, the length of the file's embeddings (raises ``ValueError``
        as :meth:`embed_batch` does for a file without them)."""
        name = self._embeddings_output()
        output = next(o for o in self.session.get_outputs() if o.name == name)
        return int(output.shape[-1])

    @property
    def min_samples(self):
        """Fewest samples the model takes in one clip (the file's
        ``min_samples`` metadata; shorter clips are padded), or None when
        the file does not say: the shortest window of the file methods."""
        value = self.metadata.get("min_samples")
        return int(value) if value and value.isdigit() else None

    def _embeddings_output(self):
        """The name of the embeddings output, checked to be in the file."""
        outputs = [output.name for output in self.session.get_outputs()]
        if EMBEDDINGS_OUTPUT not in outputs:
            raise ValueError(
                f"{self.path} has no '{EMBEDDINGS_OUTPUT}' output (its "
                f"outputs: {outputs}): it was exported before embeddings "
                "were added to the exports; re-export the model (wav2small "
                "export or wav2small package) to get them. Its scores are "
                "unaffected"
            )
        return EMBEDDINGS_OUTPUT

    def _run(self, wavs, wav_lens, outputs):
        """The ``outputs`` (names) of the session for a batch (inputs as
        :meth:`predict_batch` takes them)."""
        wavs = np.asarray(wavs, dtype=np.float32)
        check_batch(wavs, wav_lens)
        if wavs.ndim == 1:
            wavs = wavs[None]
        if wav_lens is None:
            wav_lens = np.ones(wavs.shape[0], dtype=np.float32)
        feeds = {WAVS_INPUT: np.ascontiguousarray(wavs)}
        if LENGTHS_INPUT in self.input_names:
            feeds[LENGTHS_INPUT] = np.asarray(wav_lens, dtype=np.float32)
        return self.session.run(outputs, feeds)

    def _predict_arrays(self, arrays):
        """Scores [n, 3] (float64) of 1-D arrays, padded into one batch."""
        return self.predict_batch(*pad_arrays(arrays)).astype(np.float64)

    def _predict_and_embed_arrays(self, arrays):
        """Scores [n, 3] and embeddings [n, F] (float64) of 1-D arrays,
        padded into one batch and run once."""
        outputs = [self.session.get_outputs()[0].name]
        outputs.append(self._embeddings_output())
        scores, embeddings = self._run(*pad_arrays(arrays), outputs)
        return scores.astype(np.float64), embeddings.astype(np.float64)

    def __call__(self, wavs, wav_lens=None):
        """Runs :meth:`predict_batch`."""
        return self.predict_batch(wavs, wav_lens)
