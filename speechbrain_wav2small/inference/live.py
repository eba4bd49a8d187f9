"""Live arousal, dominance and valence: a sliding window over a stream.

:class:`LiveEmotion` scores the last ``window`` seconds of a stream every
``hop`` seconds with an exported model
(:class:`~speechbrain_wav2small.inference.onnx_emotion.
OnnxEmotionDimensions`). Its memory does not grow with time: the samples
live in a ring buffer of exactly one window, and each score is yielded, not
kept. Every window is scored by the model's own ``predict_batch`` on the
window's samples, so a live score is the score of that clip.

The sources yield mono float32 blocks at the model's rate, each in
constant memory too: raw PCM from a binary stream (:func:`pcm_blocks`),
an audio file played as a stream (:func:`file_blocks`) and a microphone
(:func:`microphone_blocks`, through the optional ``sounddevice`` package).
Other rates are converted block by block by soxr's streaming resampler
(:class:`BlockResampler`).

Nothing here imports PyTorch: numpy, soundfile, soxr and onnxruntime.

Authors
 * speechbrain-wav2small contributors 2026
"""

import math
import queue
import sys
import time

import numpy as np
import soundfile as sf

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import AudioError, _check_exists

#: Raw PCM formats of :func:`pcm_blocks`: numpy dtype and full scale.
PCM_FORMATS = {"s16le": ("<i2", 32768.0), "f32le": ("<f4", 1.0)}

#: Samples per block read from a file or a pipe (at the input's rate).
BLOCK_FRAMES = 4096


class NoInputDeviceError(ValueError):
    """No microphone can be opened (no sounddevice, no PortAudio, no
    input device); the message says which, after a fixed prefix."""

    def __init__(self, reason):
        super().__init__(f"no audio input device found ({reason})")


class SlidingWindow:
    """A ring buffer of one window that hands out a window every hop.

    Arguments
    ---------
    window : int
        Window length in samples.
    hop : int
        Samples between the ends of two windows, at most ``window``.
    partial : bool
        Also hand out the windows that end before the first full one (at
        every hop, holding all the samples so far).

    Example
    -------
    >>> ring = SlidingWindow(window=4, hop=2)
    >>> [(end, w.tolist()) for end, w in ring.push(np.arange(7.0))]
    [(4, [0.0, 1.0, 2.0, 3.0]), (6, [2.0, 3.0, 4.0, 5.0])]
    >>> [(end, w.tolist()) for end, w in ring.push(np.arange(7.0, 9.0))]
    [(8, [4.0, 5.0, 6.0, 7.0])]
    """

    def __init__(self, window, hop, partial=False):
        if not 0 < hop <= window:
            raise ValueError(
                f"the hop ({hop} samples) must be positive and at most the "
                f"window ({window} samples)"
            )
        self.window = int(window)
        self.hop = int(hop)
        self.buffer = np.zeros(self.window, dtype=np.float32)
        #: Samples pushed so far (the end of the latest window).
        self.total = 0
        self._next = self.hop if partial else self.window

    def push(self, samples):
        """Adds samples; yields each window that ends within them.

        Arguments
        ---------
        samples : numpy.ndarray
            Mono samples [time].

        Yields
        ------
        (int, numpy.ndarray)
            The window's end (samples since the start) and its samples
            (float32 [min(end, window)]), a copy that the ring does not
            overwrite.
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        start = 0
        while start < samples.shape[0]:
            # Never more than a window at once: the next end is at most a
            # window (first) or a hop away.
            count = min(samples.shape[0] - start, self._next - self.total)
            self._write(samples[start : start + count])
            start += count
            if self.total == self._next:
                self._next += self.hop
                yield self.total, self.latest()

    def latest(self):
        """The last ``min(total, window)`` samples, oldest first."""
        at = self.total % self.window
        ordered = np.concatenate([self.buffer[at:], self.buffer[:at]])
        return ordered[self.window - min(self.total, self.window) :]

    def _write(self, chunk):
        """Writes at most one window of samples at the ring's position."""
        at = self.total % self.window
        first = min(chunk.shape[0], self.window - at)
        self.buffer[at : at + first] = chunk[:first]
        self.buffer[: chunk.shape[0] - first] = chunk[first:]
        self.total += chunk.shape[0]


class LiveEmotion:
    """Scores the latest window of a stream every hop.

    The default window, 3 s, is the length of the clips Wav2Small was
    trained on (a few seconds: long enough for the prosody that arousal,
    dominance and valence are read from); the default hop, 0.5 s, gives
    two updates a second, each a 3 s window that takes about 2 ms on one
    CPU core with the int8 file (the README's benchmark: 0.7 ms for 1 s,
    7.7 ms for 10 s), so a live stream costs about 0.5 % of a core.

    Arguments
    ---------
    model : OnnxEmotionDimensions
        Any predictor with ``predict_batch`` (numpy [1, time] -> [1, 3])
        and ``sample_rate``.
    window : float
        Window length in seconds.
    hop : float
        Seconds between two scores, at most ``window``.
    partial : bool
        Score the shorter windows before the first full one as well (at
        every hop from the first; at least the model's ``min_samples``).

    Example
    -------
    >>> class Mean:
    ...     sample_rate = 10
    ...     def predict_batch(self, wavs):
    ...         return np.repeat(wavs.mean(axis=1, keepdims=True), 3, 1)
    >>> live = LiveEmotion(Mean(), window=0.4, hop=0.2)
    >>> [(t, s["arousal"]) for t, s in live.feed(np.arange(8.0))]
    [(0.4, 1.5), (0.6, 3.5), (0.8, 5.5)]
    """

    def __init__(self, model, window=3.0, hop=0.5, partial=False):
        self.model = model
        self.sample_rate = int(model.sample_rate)
        for name, value in (("window", window), ("hop", hop)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"--{name} must be a positive number of seconds, not "
                    f"{value}"
                )
        if hop > window:
            raise ValueError(
                f"--hop ({hop} s) must be at most --window ({window} s)"
            )
        window_samples = round(window * self.sample_rate)
        hop_samples = max(round(hop * self.sample_rate), 1)
        shortest = getattr(model, "min_samples", None) or 1
        if window_samples < shortest:
            raise ValueError(
                f"--window ({window} s) is shorter than the model's shortest "
                f"clip ({shortest / self.sample_rate} s)"
            )
        self.shortest = shortest
        self.ring = SlidingWindow(window_samples, hop_samples, partial)

    @property
    def seconds(self):
        """Seconds of audio fed so far (at the model's rate)."""
        return self.ring.total / self.sample_rate

    def feed(self, samples):
        """Adds mono samples at ``sample_rate``; yields the new scores.

        Arguments
        ---------
        samples : numpy.ndarray
            float32 [time], any length.

        Yields
        ------
        (float, dict)
            The end of the window in seconds from the start of the stream,
            and its scores by dimension name.
        """
        for end, window in self.ring.push(samples):
            if window.shape[0] < self.shortest:
                continue
            scores = self.model.predict_batch(window[None])[0]
            yield (
                end / self.sample_rate,
                {
                    name: float(v)
                    for name, v in zip(DIMENSIONS, scores, strict=True)
                },
            )


class BlockResampler:
    """Resamples a stream block by block (soxr's streaming resampler, at
    the same "HQ" quality as :func:`speechbrain_wav2small.dataio.audio.
    resample`), in constant memory.

    The output lags the input by the filter's delay (a few ms); the last
    call (``last=True``) flushes it. The samples match a whole-signal
    :func:`~speechbrain_wav2small.dataio.audio.resample` to within about
    1e-6 (the same filter, its state carried over block edges), except
    that the total count may differ by a sample or two.

    Arguments
    ---------
    orig_rate, new_rate : int
        Sample rates in Hz.

    Example
    -------
    >>> tone = np.sin(np.arange(44100) * 0.06).astype("float32")
    >>> convert = BlockResampler(44100, 16000)
    >>> parts = [convert(b) for b in np.split(tone, 10)]
    >>> out = np.concatenate(parts + [convert(tone[:0], last=True)])
    >>> abs(out.shape[0] - 16000) <= 2
    True
    """

    def __init__(self, orig_rate, new_rate):
        self.same = int(orig_rate) == int(new_rate)
        if not self.same:
            import soxr

            self.stream = soxr.ResampleStream(
                int(orig_rate), int(new_rate), 1, dtype="float32"
            )

    def __call__(self, block, last=False):
        """The resampled samples that ``block`` completes (float32)."""
        block = np.ascontiguousarray(block, dtype=np.float32)
        if self.same:
            return block
        return self.stream.resample_chunk(block, last=last)


def _mono(frames):
    """float32 [time] from [time, channels] (the channels' mean)."""
    if frames.shape[1] == 1:
        return frames[:, 0].astype(np.float32, copy=False)
    return frames.mean(axis=1, dtype=np.float32)


def pcm_blocks(
    stream,
    sample_rate=SAMPLE_RATE,
    pcm_format="s16le",
    rate=SAMPLE_RATE,
    channels=1,
    block_frames=BLOCK_FRAMES,
):
    """Mono float32 blocks at ``sample_rate`` from raw PCM bytes.

    Arguments
    ---------
    stream : binary file object
        Interleaved little-endian PCM (e.g. ``sys.stdin.buffer``); read
        until it ends. Bytes of an incomplete frame wait for the next read.
    sample_rate : int
        The rate of the blocks (the model's).
    pcm_format : str
        A key of :data:`PCM_FORMATS`: ``s16le`` or ``f32le``.
    rate : int
        The stream's sample rate in Hz.
    channels : int
        The stream's channels (averaged to mono).
    block_frames : int
        Frames per read.

    Yields
    ------
    numpy.ndarray
        float32 [time] blocks.

    Raises
    ------
    ValueError
        An unknown format, or samples that are NaN or Inf.

    Example
    -------
    >>> import io
    >>> pcm = (np.arange(6, dtype="<i2") * 4096).tobytes()
    >>> blocks = pcm_blocks(io.BytesIO(pcm), rate=16000, channels=2)
    >>> np.concatenate(list(blocks)).tolist()
    [0.0625, 0.3125, 0.5625]
    """
    if pcm_format not in PCM_FORMATS:
        raise ValueError(
            f"--format {pcm_format} is not one of {sorted(PCM_FORMATS)}"
        )
    dtype, scale = PCM_FORMATS[pcm_format]
    frame_bytes = np.dtype(dtype).itemsize * channels
    convert = BlockResampler(rate, sample_rate)
    pending = b""
    read = getattr(stream, "read1", stream.read)
    while True:
        data = read(block_frames * frame_bytes)
        if not data:
            break
        data = pending + data
        usable = len(data) - len(data) % frame_bytes
        pending = data[usable:]
        if not usable:
            continue
        frames = np.frombuffer(data[:usable], dtype=dtype).reshape(-1, channels)
        mono = _mono(frames.astype(np.float32) / scale)
        if not np.isfinite(mono).all():
            raise ValueError("standard input holds NaN or Inf samples")
        yield convert(mono)
    yield convert(np.zeros(0, np.float32), last=True)


def file_blocks(
    path, sample_rate=SAMPLE_RATE, realtime=False, block_frames=BLOCK_FRAMES
):
    """Mono float32 blocks at ``sample_rate`` from an audio file, read
    block by block as if it were a live stream.

    Arguments
    ---------
    path : str or os.PathLike
        Any file soundfile reads (any rate, any channels).
    sample_rate : int
        The rate of the blocks (the model's).
    realtime : bool
        Pace the blocks at the file's real time (sleeping between them);
        as fast as possible otherwise.
    block_frames : int
        Frames per read, at the file's rate.

    Yields
    ------
    numpy.ndarray
        float32 [time] blocks.

    Raises
    ------
    AudioError
        A missing, empty or unreadable file, or NaN or Inf samples.

    Example
    -------
    >>> import tempfile
    >>> path = tempfile.mktemp(suffix=".wav")
    >>> sf.write(path, np.zeros((44100, 2)), 44100)
    >>> sum(b.shape[0] for b in file_blocks(path)) in range(15998, 16003)
    True
    """
    _check_exists(path)
    try:
        sound = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(path, f"not a readable audio file ({error})") from None
    with sound:
        convert = BlockResampler(sound.samplerate, sample_rate)
        started = time.monotonic()
        read = 0
        for frames in sound.blocks(
            block_frames, dtype="float32", always_2d=True
        ):
            mono = _mono(frames)
            if not np.isfinite(mono).all():
                raise AudioError(path, "contains NaN or Inf samples")
            read += frames.shape[0]
            if realtime:
                ahead = started + read / sound.samplerate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            yield convert(mono)
        yield convert(np.zeros(0, np.float32), last=True)


def microphone_blocks(sample_rate=SAMPLE_RATE, device=None, block_seconds=0.1):
    """Mono float32 blocks at ``sample_rate`` from a microphone, until
    interrupted (Ctrl-C).

    Opens the input device at its own default rate (resampled here, as
    many devices take only 44.1 or 48 kHz). The blocks wait in a bounded
    queue (about 10 s); should the reader fall that far behind, the
    oldest block is dropped, with a warning on standard error.

    Arguments
    ---------
    sample_rate : int
        The rate of the blocks (the model's).
    device : int or str, optional
        A PortAudio input device (index or name); the default input when
        omitted.
    block_seconds : float
        Seconds per block from the device.

    Yields
    ------
    numpy.ndarray
        float32 [time] blocks.

    Raises
    ------
    NoInputDeviceError
        The ``sounddevice`` package or the PortAudio library is missing,
        or there is no such input device.

    Example
    -------
    Needs a microphone::

        for block in microphone_blocks():
            ...
    """
    try:
        import sounddevice
    except ImportError:
        raise NoInputDeviceError(
            "the sounddevice package is not installed: pip install "
            "sounddevice, or pip install speechbrain-wav2small[live]"
        ) from None
    except OSError as error:  # sounddevice raises it without PortAudio
        raise NoInputDeviceError(
            f"the PortAudio library cannot be loaded: {error}"
        ) from None
    try:
        info = sounddevice.query_devices(device, kind="input")
        rate = int(info["default_samplerate"])
        sounddevice.check_input_settings(
            device=device, channels=1, samplerate=rate, dtype="float32"
        )
    except Exception as error:  # PortAudioError, ValueError...
        raise NoInputDeviceError(str(error) or type(error).__name__) from None
    blocks = queue.Queue(maxsize=max(int(10 / block_seconds), 1))

    def collect(indata, frames, when, status):
        """Runs on PortAudio's thread: queues a copy of each block."""
        try:
            blocks.put_nowait(indata[:, 0].copy())
        except queue.Full:
            print("warning: live scoring fell behind; dropped", file=sys.stderr)

    convert = BlockResampler(rate, sample_rate)
    try:
        stream = sounddevice.InputStream(
            device=device,
            channels=1,
            samplerate=rate,
            dtype="float32",
            blocksize=max(int(rate * block_seconds), 1),
            callback=collect,
        )
    except Exception as error:
        raise NoInputDeviceError(str(error) or type(error).__name__) from None
    with stream:
        while True:
            yield convert(blocks.get())
