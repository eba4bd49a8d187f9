"""Emotion-dimension prediction with onnxruntime only (no PyTorch).

The same API as
:class:`speechbrain_wav2small.inference.emotion.EmotionDimensions`
(``predict_batch``, ``predict_file``, ``predict_files``), on numpy arrays,
for the files written by :mod:`speechbrain_wav2small.export`. Importing
and running it needs numpy, soundfile and onnxruntime, nothing else.

Authors
 * speechbrain-wav2small contributors 2026
"""

import json
import os

import numpy as np
import onnxruntime

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.inference.file_prediction import (
    FilePredictor,
    pad_arrays,
)
from speechbrain_wav2small.utils.hub import resolve_source
from speechbrain_wav2small.utils.model_files import (
    CARD_FILE,
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


def find_onnx_model(source, prefer_int8=True):
    """The ``.onnx`` file for ``source``.

    Arguments
    ---------
    source : str or os.PathLike
        An ONNX file, a folder holding one of :data:`ONNX_FILES`, or a hub
        id (``owner/name``, see :mod:`speechbrain_wav2small.utils.hub`)
        whose snapshot holds one. A name ending in ``.onnx`` is always a
        file, never a hub id.
    prefer_int8 : bool
        In a folder holding both, take the int8 file.

    Returns
    -------
    str
        The path of the file.

    Example
    -------
    >>> find_onnx_model("/nonexistent.onnx")
    Traceback (most recent call last):
    ...
    FileNotFoundError: ONNX model /nonexistent.onnx does not exist
    """
    text = os.fspath(source)
    if os.path.isfile(text):
        return text
    if text.endswith(".onnx") and not os.path.exists(text):
        raise FileNotFoundError(f"ONNX model {text} does not exist")
    folder = resolve_source(source, "ONNX model", HUB_FILES, folder=False)
    if folder.is_file():
        return str(folder)
    names = ONNX_FILES if prefer_int8 else ONNX_FILES[::-1]
    for name in names:
        path = folder / name
        if path.is_file():
            return str(path)
    raise FileNotFoundError(f"no {' or '.join(names)} in folder {source}")


class OnnxEmotionDimensions(FilePredictor):
    """Predicts arousal, dominance and valence with an exported model.

    Arguments
    ---------
    source : str or os.PathLike
        An ``.onnx`` file, a folder holding ``model.int8.onnx`` and/or
        ``model.onnx``, or a hub id (``owner/name``) of such a folder.
    prefer_int8 : bool
        In a folder holding both, take the int8 model.
    threads : int, optional
        onnxruntime intra-op threads (its default when omitted).

    Example
    -------
    Needs an exported model::

        model = OnnxEmotionDimensions("exports/wav2small")
        model.predict_file("speech.wav")
        # {'arousal': 0.61, 'dominance': 0.55, 'valence': 0.42}
    """

    def __init__(self, source, prefer_int8=True, threads=None):
        self.path = find_onnx_model(source, prefer_int8)
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
        """
        wavs = np.asarray(wavs, dtype=np.float32)
        if wavs.ndim == 1:
            wavs = wavs[None]
        if wav_lens is None:
            wav_lens = np.ones(wavs.shape[0], dtype=np.float32)
        feeds = {WAVS_INPUT: np.ascontiguousarray(wavs)}
        if LENGTHS_INPUT in self.input_names:
            feeds[LENGTHS_INPUT] = np.asarray(wav_lens, dtype=np.float32)
        return self.session.run(None, feeds)[0]

    def _predict_arrays(self, arrays):
        """Scores [n, 3] (float64) of 1-D arrays, padded into one batch."""
        return self.predict_batch(*pad_arrays(arrays)).astype(np.float64)

    def __call__(self, wavs, wav_lens=None):
        """Runs :meth:`predict_batch`."""
        return self.predict_batch(wavs, wav_lens)
