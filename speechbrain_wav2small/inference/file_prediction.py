"""File-level prediction shared by the PyTorch and the ONNX interfaces.

numpy and soundfile only (through :mod:`speechbrain_wav2small.dataio.audio`),
so the torch-free ONNX interface runs exactly the same code as the PyTorch one.

A file is predicted either whole (one utterance-level result) or in
sliding windows. Windows start at ``0, hop, 2 hop, ...``; the last one is
cut at the end of the file, and a window that would only repeat audio the
previous window already covered, or hold less than one sample, is not
made. The window and the hop are checked once, before any file is read
(:func:`check_window`): finite, at least the shortest clip the model
takes (its ``min_samples``, or 0.1 s for a model that does not say), and
the hop at most the window, so that windows leave no audio out and never
start past the end of a file. Each window is read from disk
on its own (``read_audio(start, stop)``), so memory stays bounded by the
window, never by the file. Files longer than ``max_utterance_seconds`` are
always windowed (``long_file_window`` seconds, no overlap), even when no
window was asked for: a whole hour in one pass would need gigabytes.

The utterance-level result of a windowed file is the **duration-weighted
mean** of its windows: each window counts in proportion to its length in
seconds, so a short tail window counts little, and with ``hop == window``
the result weighs every second of audio equally.

The same windows and the same weighting give a file's **embeddings** (the
features the model's head reads, :meth:`FilePredictor.embed_file`): one
vector per window and their duration-weighted mean for the file, e.g. to
train a classifier of one's own (emotion categories) on them.

Both interfaces check what they are given the same way, here: a batch
(:func:`check_batch`: its shape, its relative lengths, NaN or Inf
samples) before the model sees it, and a file's results after: a model
output that is not finite (float samples near the float32 limit
overflow inside the model) is an :class:`AudioError` naming the file,
never a NaN score.

Authors
 * speechbrain-wav2small contributors 2026
"""

import logging

import numpy as np

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import (
    AudioError,
    audio_info,
    read_audio,
)

logger = logging.getLogger(__name__)

#: Key of an embedding in the results of :meth:`FilePredictor.embed_file`
#: and of ``predict_file(..., embeddings=True)``.
EMBEDDING_KEY = "embedding"

#: Shortest window and hop (s) for a model that does not say how short a
#: clip it takes (its ``min_samples``).
DEFAULT_MIN_WINDOW_SECONDS = 0.1

#: Shortest window and hop (s) at all: window bounds are rounded to the
#: microsecond.
BOUND_RESOLUTION = 1e-6

#: How far above 1 a relative length may be (float rounding) in a batch.
LENGTH_TOLERANCE = 1e-6


def check_window(
    window,
    hop=None,
    min_seconds=BOUND_RESOLUTION,
    minimum="the resolution of window bounds",
):
    """Checks a window and a hop (s) for sliding-window prediction.

    Arguments
    ---------
    window : float or None
        Window length in seconds; None for no windows.
    hop : float, optional
        Step between window starts in seconds (default: ``window``).
    min_seconds : float
        Shortest window and hop allowed (the model's shortest clip).
    minimum : str
        What ``min_seconds`` is, for the error message.

    Returns
    -------
    tuple
        ``(window, hop)`` as floats, or ``(None, None)`` without a window.

    Raises
    ------
    ValueError
        A hop without a window; a window or hop that is no number, not
        finite, not positive or shorter than ``min_seconds``; a hop longer
        than the window (the audio between windows would go unpredicted).

    Example
    -------
    >>> check_window(3, 1)
    (3.0, 1.0)
    >>> check_window(1.0, 2.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: hop 2 s is longer than the window 1 s: the audio between...
    """
    if window is None:
        if hop is not None:
            raise ValueError("a hop needs a window")
        return None, None
    window = _seconds("window", window, min_seconds, minimum)
    if hop is not None:
        hop = _seconds("hop", hop, min_seconds, minimum)
    else:
        hop = window
    if hop > window:
        raise ValueError(
            f"hop {hop:g} s is longer than the window {window:g} s: the "
            "audio between windows would go unpredicted; use a hop of at "
            f"most {window:g} s"
        )
    return window, hop


def _seconds(name, value, min_seconds, minimum):
    """``value`` as a float number of seconds, checked (see
    :func:`check_window`)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a number of seconds, got {value!r}"
        ) from None
    if not np.isfinite(seconds):
        raise ValueError(
            f"{name} must be a finite number of seconds, got {value}"
        )
    if not seconds > 0:
        raise ValueError(f"{name} must be positive, got {seconds:g} s")
    if seconds < min_seconds:
        raise ValueError(
            f"{name} {seconds:g} s is shorter than {minimum} "
            f"({min_seconds:g} s)"
        )
    return seconds


def check_batch(wavs, wav_lens=None):
    """Checks a batch for ``predict_batch`` and ``embed_batch`` (both
    interfaces), before the model sees it.

    Arguments
    ---------
    wavs : numpy.ndarray or torch.Tensor
        [batch, time] or [time].
    wav_lens : array-like, optional
        Relative lengths [batch] in (0, 1].

    Raises
    ------
    ValueError
        Naming the problem: not 1-D or 2-D, an empty batch, no samples,
        NaN or Inf samples; lengths of the wrong count, NaN, not in
        (0, 1], or leaving a clip without a sample.

    Example
    -------
    >>> check_batch(np.zeros((2, 100)), np.array([1.0, 0.5]))
    >>> check_batch(np.zeros((2, 100)), np.array([1.0, 0.0]))
    Traceback (most recent call last):
    ...
    ValueError: wav_lens must be relative lengths in (0, 1], got 0 for clip 1
    """
    shape = tuple(int(size) for size in wavs.shape)
    if len(shape) not in (1, 2):
        raise ValueError(
            f"wavs must be [batch, time] or [time] (mono), got shape {shape}"
        )
    batch, time = (1, shape[0]) if len(shape) == 1 else shape
    if batch == 0:
        raise ValueError(f"wavs is an empty batch (shape {shape})")
    if time == 0:
        raise ValueError(f"wavs has no samples (shape {shape})")
    finite = _finite_rows(wavs if len(shape) == 2 else wavs[None])
    if not finite.all():
        raise ValueError(
            "wavs contains NaN or Inf samples "
            f"({_clips(np.flatnonzero(~finite))})"
        )
    if wav_lens is None:
        return
    lengths = _to_numpy(wav_lens)
    if lengths.shape != (batch,):
        raise ValueError(
            f"wav_lens must hold one relative length per clip ({batch}), "
            f"got shape {lengths.shape}"
        )
    bad = np.flatnonzero(~((lengths > 0) & (lengths <= 1 + LENGTH_TOLERANCE)))
    if len(bad):
        raise ValueError(
            "wav_lens must be relative lengths in (0, 1], got "
            f"{_values(lengths[bad])} for {_clips(bad)}"
        )
    empty = np.flatnonzero(lengths * time < 0.5)
    if len(empty):
        raise ValueError(
            f"wav_lens leaves {_clips(empty)} without a sample (relative "
            f"length {_values(lengths[empty])} of {time} samples)"
        )


def _to_numpy(values):
    """``values`` (numpy, a torch tensor on any device, a list) as a
    float64 numpy array."""
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu()
    return np.asarray(values, dtype=np.float64)


def _finite_rows(wavs):
    """Whether each row of ``wavs`` [batch, time] is all finite (numpy
    bool [batch]); a torch tensor is checked on its own device."""
    if hasattr(wavs, "isfinite"):  # a torch tensor
        return _to_numpy(wavs.isfinite().all(dim=-1)).astype(bool)
    return np.isfinite(wavs).all(axis=-1)


def _values(values):
    """Numbers for a message, as ``%g`` writes them."""
    return ", ".join(f"{float(value):g}" for value in values)


def _clips(indices):
    """``clip 3`` or ``clips 0, 2`` for batch indices."""
    indices = [int(index) for index in indices]
    if len(indices) == 1:
        return f"clip {indices[0]}"
    return f"clips {', '.join(map(str, indices))}"


def window_bounds(duration, window, hop=None, sample_rate=None):
    """Start and end times (s) of the sliding windows over ``duration`` s.

    Arguments
    ---------
    duration : float
        Length of the audio in seconds.
    window : float
        Window length in seconds.
    hop : float, optional
        Step between window starts in seconds (default: ``window``); at
        most ``window`` (see :func:`check_window`).
    sample_rate : int, optional
        The file's sample rate: a last window that would hold less than
        one of its samples is not made (with no rate: less than a
        microsecond, the resolution of the bounds).

    Returns
    -------
    list of (float, float)
        At least one window; the last one ends at ``duration``, none
        starts at or past it (but for ``duration`` 0).

    Example
    -------
    >>> window_bounds(7.0, 3.0)
    [(0.0, 3.0), (3.0, 6.0), (6.0, 7.0)]
    >>> window_bounds(5.0, 3.0, hop=1.0)
    [(0.0, 3.0), (1.0, 4.0), (2.0, 5.0)]
    >>> window_bounds(2.0, 3.0)
    [(0.0, 2.0)]
    >>> window_bounds(1.0, 0.33333333)[-1]
    (0.666667, 1.0)
    """
    window, hop = check_window(window, hop)
    shortest = 1 / sample_rate if sample_rate else BOUND_RESOLUTION
    bounds = []
    index = 0
    while True:
        start = index * hop
        end = min(start + window, duration)
        # What is left past the previous window (which ended before
        # ``duration``) may be a rounding sliver: no sample to predict.
        if bounds and end - start < shortest:
            return bounds
        bounds.append((round(float(start), 6), round(float(end), 6)))
        if end >= duration:
            return bounds
        index += 1


def duration_weighted_mean(rows):
    """Utterance-level result: mean of window rows weighted by duration.

    Each of the scores present in the rows is averaged, and so is their
    ``embedding`` when they have one.

    Example
    -------
    >>> rows = [{"start": 0.0, "end": 3.0, "arousal": 0.2, "dominance": 0.5,
    ...          "valence": 0.4},
    ...         {"start": 3.0, "end": 4.0, "arousal": 0.6, "dominance": 0.5,
    ...          "valence": 0.8}]
    >>> round(duration_weighted_mean(rows)["arousal"], 6)
    0.3
    >>> rows = [{"start": 0.0, "end": 3.0, "embedding": np.zeros(2)},
    ...         {"start": 3.0, "end": 4.0, "embedding": np.ones(2)}]
    >>> duration_weighted_mean(rows)["embedding"].tolist()
    [0.25, 0.25]
    """
    weights = np.array([row["end"] - row["start"] for row in rows])
    if not weights.sum() > 0:
        weights = np.ones(len(rows))
    weights = weights / weights.sum()
    result = {}
    names = [name for name in DIMENSIONS if name in rows[0]]
    if names:
        scores = np.array([[row[name] for name in names] for row in rows])
        mean = weights @ scores
        result.update(
            {name: float(v) for name, v in zip(names, mean, strict=True)}
        )
    if EMBEDDING_KEY in rows[0]:
        result[EMBEDDING_KEY] = weights @ np.stack(
            [row[EMBEDDING_KEY] for row in rows]
        )
    return result


def pad_arrays(arrays):
    """Zero-pads 1-D arrays into [batch, time] plus relative lengths.

    Example
    -------
    >>> wavs, lens = pad_arrays([np.ones(4), np.ones(2)])
    >>> wavs.shape, lens.tolist()
    ((2, 4), [1.0, 0.5])
    """
    longest = max(len(array) for array in arrays)
    wavs = np.zeros((len(arrays), longest), dtype=np.float32)
    for row, array in enumerate(arrays):
        wavs[row, : len(array)] = array
    lengths = np.array([len(a) / longest for a in arrays], dtype=np.float32)
    return wavs, lengths


class FilePredictor:
    """Mixin: ``predict_file``, ``predict_files`` and ``embed_file`` on top
    of batch calls.

    A subclass provides ``_predict_arrays(list of 1-D float32 arrays) ->
    numpy [n, 3]``, for embeddings ``_predict_and_embed_arrays(arrays) ->
    (numpy [n, 3], numpy [n, F])``, and, optionally, ``sample_rate``.

    Example
    -------
    >>> import os, tempfile
    >>> import soundfile
    >>> class Loudness(FilePredictor):
    ...     def _predict_arrays(self, arrays):
    ...         return np.array([[np.abs(a).mean()] * 3 for a in arrays])
    ...     def _predict_and_embed_arrays(self, arrays):
    ...         peaks = np.array([[np.abs(a).max()] for a in arrays])
    ...         return self._predict_arrays(arrays), peaks
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> soundfile.write(path, np.full(16000, 0.5), 16000)
    >>> Loudness().predict_file(path)
    {'arousal': 0.5, 'dominance': 0.5, 'valence': 0.5}
    >>> Loudness().embed_file(path)
    {'embedding': array([0.5])}
    >>> len(Loudness().embed_file(path, window=0.4)["windows"])
    3
    """

    #: Longest file (s) predicted in one pass when no window is asked for.
    max_utterance_seconds = 30.0
    #: Window (and hop) in seconds for files longer than that.
    long_file_window = 10.0
    #: Most clips in one forward pass (``predict_files``, windows)...
    batch_size = 8
    #: ...and most audio in seconds, padding included: a model's
    #: activations, not the file, set the memory used.
    batch_seconds = 30.0
    sample_rate = SAMPLE_RATE
    #: Fewest samples the model takes in one clip (shorter ones are
    #: padded); None when the model does not say.
    min_samples = None

    @property
    def min_window_seconds(self):
        """Shortest window and hop (s): the model's shortest clip, or
        :data:`DEFAULT_MIN_WINDOW_SECONDS` when it does not say."""
        if self.min_samples:
            return max(self.min_samples / self.sample_rate, BOUND_RESOLUTION)
        return DEFAULT_MIN_WINDOW_SECONDS

    def check_window(self, window, hop=None):
        """:func:`check_window` with this model's shortest clip: the
        window and hop as floats (``(None, None)`` without a window), or
        a ``ValueError`` saying what is wrong with them."""
        if self.min_samples:
            minimum = "the shortest clip this model takes"
        else:
            minimum = "the shortest window for a model without min_samples"
        return check_window(window, hop, self.min_window_seconds, minimum)

    def _predict_arrays(self, arrays):
        """Predicts 1-D float32 arrays; returns numpy [n, 3]."""
        raise NotImplementedError

    def _predict_and_embed_arrays(self, arrays):
        """Scores [n, 3] and embeddings [n, F] (numpy) of 1-D arrays."""
        raise NotImplementedError(
            f"{type(self).__name__} does not compute embeddings"
        )

    def _scores(self, arrays):
        """Predicts 1-D clips in batches; returns numpy [n, 3]."""
        return self._batched(arrays, self._predict_arrays)

    def _outputs(self, arrays, scores=True, embeddings=False):
        """The results of 1-D clips, one dict each: the scores by name
        (``scores``) and the ``embedding`` (``embeddings``)."""
        if not embeddings:
            return [_named(row) for row in self._scores(arrays)]
        both = self._batched(arrays, self._predict_and_embed_arrays)
        return [
            {**(_named(row) if scores else {}), EMBEDDING_KEY: embedding}
            for row, embedding in zip(*both, strict=True)
        ]

    def _batched(self, arrays, run):
        """``run`` on 1-D clips in batches (at most :attr:`batch_size`
        clips and :attr:`batch_seconds` of audio, padding included); its
        numpy output, or each of its outputs, concatenated as float64."""
        limit = self.batch_seconds * self.sample_rate
        outputs, batch = [], []
        for array in arrays:
            longest = max([len(array)] + [len(a) for a in batch])
            if batch and (
                len(batch) == self.batch_size
                or longest * (len(batch) + 1) > limit
            ):
                outputs.append(run(batch))
                batch = []
            batch.append(array)
        outputs.append(run(batch))
        if isinstance(outputs[0], tuple):
            return tuple(
                _concatenate(parts) for parts in zip(*outputs, strict=True)
            )
        return _concatenate(outputs)

    def predict_file(self, path, window=None, hop=None, embeddings=False):
        """Predicts arousal, dominance and valence for one audio file.

        Arguments
        ---------
        path : str or os.PathLike
            Any file soundfile reads (WAV, FLAC, OGG...), any sample rate
            and channel count (mixed down to mono, resampled).
        window : float, optional
            Window length in seconds for sliding-window prediction.
        hop : float, optional
            Hop between windows in seconds (default: ``window``).
        embeddings : bool
            Also give every result its ``embedding``, as
            :meth:`embed_file` does, from the same pass over the audio.

        Returns
        -------
        dict
            ``arousal``, ``dominance``, ``valence`` (floats) for the whole
            file; when windowed, also ``windows``: one dict per window with
            ``start`` and ``end`` (s) and the three scores. The file-level
            scores are then the duration-weighted mean of the windows.
            With ``embeddings``, every one of them also has its
            ``embedding``.

        Raises
        ------
        speechbrain_wav2small.dataio.audio.AudioError
            A missing, empty or unreadable file, one without samples or
            with NaN/Inf samples, or one on which the model's output is
            not finite; the message names the file.
        ValueError
            A window or hop that :meth:`check_window` refuses (checked
            before the file is read).
        """
        return self._file_result(path, window, hop, True, embeddings)

    def embed_file(self, path, window=None, hop=None):
        """The embeddings of one audio file: the features the model's head
        reads (338 for Wav2Small), e.g. to train a classifier on.

        Files are read and windowed exactly as by :meth:`predict_file`.

        Arguments
        ---------
        path : str or os.PathLike
            Any file soundfile reads, any sample rate and channel count.
        window : float, optional
            Window length in seconds for sliding-window embeddings.
        hop : float, optional
            Hop between windows in seconds (default: ``window``).

        Returns
        -------
        dict
            ``embedding``: numpy float64 [F] for the whole file; when
            windowed, also ``windows``: one dict per window with ``start``
            and ``end`` (s) and its ``embedding``, and the file's is then
            their duration-weighted mean (as :meth:`predict_file`'s scores).

        Raises
        ------
        speechbrain_wav2small.dataio.audio.AudioError
            A missing, empty or unreadable file, one without samples or
            with NaN/Inf samples, or one on which the model's output is
            not finite; the message names the file.
        ValueError
            The model gives no embeddings (an ONNX file exported before
            they were added: re-export it); a window or hop that
            :meth:`check_window` refuses.
        """
        return self._file_result(path, window, hop, False, True)

    def _file_result(self, path, window, hop, scores, embeddings):
        """The result of :meth:`predict_file` (``scores``) and/or of
        :meth:`embed_file` (``embeddings``) for one file."""
        window, hop = self.check_window(window, hop)
        info = audio_info(path)
        duration = info["duration"]
        if window is None and duration > self.max_utterance_seconds:
            logger.info(
                "%s lasts %.0f s: predicting in %.0f s windows",
                path,
                duration,
                self.long_file_window,
            )
            window = hop = self.long_file_window
        if window is None:
            clip = read_audio(path, self.sample_rate)
            result = self._outputs([clip], scores, embeddings)[0]
            _check_finite(path, [result])
            return result
        rows = []
        bounds = window_bounds(duration, window, hop, info["sample_rate"])
        for first in range(0, len(bounds), self.batch_size):
            chunk = bounds[first : first + self.batch_size]
            clips = [
                read_audio(path, self.sample_rate, start, stop)
                for start, stop in chunk
            ]
            results = self._outputs(clips, scores, embeddings)
            for (start, stop), result in zip(chunk, results, strict=True):
                rows.append({"start": start, "end": stop, **result})
        _check_finite(path, rows)
        return {**duration_weighted_mean(rows), "windows": rows}

    def predict_files(self, paths, window=None, hop=None):
        """Predicts several files (short ones batched together).

        Arguments
        ---------
        paths : list
            Audio file paths.
        window, hop : float, optional
            As in :meth:`predict_file`.

        Returns
        -------
        list of dict
            One :meth:`predict_file` result per path, in order.

        Raises
        ------
        speechbrain_wav2small.dataio.audio.AudioError
            At the first unusable file, naming it.
        ValueError
            A window or hop that :meth:`check_window` refuses.
        """
        window, hop = self.check_window(window, hop)
        results = [None] * len(paths)
        pending = []

        def flush():
            """Predicts the pending whole files in one batch."""
            scores = self._scores([clip for _, clip in pending])
            for (index, _), row in zip(pending, scores, strict=True):
                results[index] = _named(row)
                _check_finite(paths[index], [results[index]])
            pending.clear()

        for index, path in enumerate(paths):
            duration = audio_info(path)["duration"]
            if window is None and duration <= self.max_utterance_seconds:
                pending.append((index, read_audio(path, self.sample_rate)))
                if len(pending) == self.batch_size:
                    flush()
            else:
                results[index] = self.predict_file(path, window, hop)
        if pending:
            flush()
        return results


def _check_finite(path, results):
    """Raises an :class:`AudioError` naming ``path`` if a score or an
    embedding in ``results`` (dicts, windows with their bounds) is NaN or
    Inf."""
    for result in results:
        values = [result[name] for name in DIMENSIONS if name in result]
        if EMBEDDING_KEY in result:
            values = np.concatenate([values, result[EMBEDDING_KEY]])
        if not np.isfinite(values).all():
            where = ""
            if "start" in result:
                where = f" in the window {result['start']}-{result['end']} s"
            raise AudioError(
                path,
                f"model output is not finite (NaN or Inf){where}, e.g. "
                "float samples near the float32 limit overflowing inside "
                "the model",
            )


def _concatenate(outputs):
    """Batch outputs (numpy-like [n_i, k]) as one float64 array."""
    return np.concatenate([np.asarray(o) for o in outputs]).astype(np.float64)


def _named(scores):
    """Scores [3] as a dict keyed by dimension name."""
    return {name: float(v) for name, v in zip(DIMENSIONS, scores, strict=True)}
