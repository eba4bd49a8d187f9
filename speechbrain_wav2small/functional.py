"""Pure tensor functions behind the front end and the padding-aware models.

Everything here is computed from a few integers with index arithmetic, so
that an exported ONNX graph rebuilds the DFT basis and the mel filterbank
instead of storing them (a stored basis would dominate a 10K-parameter
model's file).

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib
import math

import torch

#: Slaney's mel scale (librosa's default): linear below 1 kHz, log above.
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def at_least_float32(values):
    """``values`` as a tensor, with float16 and bfloat16 raised to float32.

    Other dtypes (float32, float64, integers) are left as they are.

    Arguments
    ---------
    values : torch.Tensor or array-like
        The values.

    Returns
    -------
    torch.Tensor
        The values, in float32 at least when floating point.

    Example
    -------
    >>> at_least_float32(torch.ones(2, dtype=torch.bfloat16)).dtype
    torch.float32
    >>> at_least_float32(torch.ones(2, dtype=torch.float64)).dtype
    torch.float64
    """
    values = torch.as_tensor(values)
    if values.dtype in (torch.float16, torch.bfloat16):
        return values.float()
    return values


def autocast_off(device):
    """A context in which autocast is off on ``device``'s type.

    For the few computations that mixed precision would spoil; a device
    type without autocast (``meta``) gets a context that does nothing.

    Arguments
    ---------
    device : torch.device
        The device whose autocast is turned off.

    Returns
    -------
    contextlib.AbstractContextManager
        The context.

    Example
    -------
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     with autocast_off(torch.device("cpu")):
    ...         product = torch.ones(2, 2) @ torch.ones(2, 2)
    >>> product.dtype
    torch.float32
    """
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def relative_to_absolute(lengths, size):
    """Turns SpeechBrain's relative lengths into counts of valid elements.

    Arguments
    ---------
    lengths : torch.Tensor
        Relative lengths in (0, 1], shape [batch].
    size : int
        The padded size these lengths are relative to.

    Returns
    -------
    torch.Tensor
        Long tensor [batch], at least 1 and at most ``size``.

    Example
    -------
    >>> relative_to_absolute(torch.tensor([1.0, 0.5]), 10)
    tensor([10,  5])
    """
    counts = torch.round(lengths * size).long()
    return counts.clamp(min=1, max=size)


def length_mask(counts, max_len):
    """Boolean mask [batch, max_len], True where the position is valid.

    Arguments
    ---------
    counts : torch.Tensor
        Valid positions per row [batch] (long).
    max_len : int
        The padded length.

    Returns
    -------
    torch.Tensor
        Boolean mask [batch, max_len].

    Example
    -------
    >>> length_mask(torch.tensor([2, 3]), 3)
    tensor([[ True,  True, False],
            [ True,  True,  True]])
    """
    positions = torch.arange(max_len, device=counts.device)
    return positions.unsqueeze(0) < counts.unsqueeze(1)


def conv_output_length(counts, kernel_size, stride=1, padding=0, dilation=1):
    """Number of output frames of a convolution or pooling over ``counts``.

    Arguments
    ---------
    counts : torch.Tensor
        Input frames (or samples) per row [batch] (long).
    kernel_size : int
        Kernel size along the axis.
    stride : int
        Stride along the axis.
    padding : int
        Zero padding on each side.
    dilation : int
        Kernel dilation.

    Returns
    -------
    torch.Tensor
        Output frames per row [batch] (long); not clamped, so it can be 0
        or negative for inputs shorter than the kernel.

    Example
    -------
    >>> conv_output_length(torch.tensor([100, 64]), 64, 32)
    tensor([2, 1])
    """
    span = dilation * (kernel_size - 1) + 1
    return (
        torch.div(counts + 2 * padding - span, stride, rounding_mode="floor")
        + 1
    )


def normalize_waveform(wavs, lengths=None, eps=1e-7):
    """Per-utterance zero mean, unit mean square, over valid samples only.

    Padded samples are set to exactly zero, so a padded clip gives the same
    frames as the clip alone.

    Arguments
    ---------
    wavs : torch.Tensor
        Waveforms [batch, time].
    lengths : torch.Tensor, optional
        Relative lengths [batch] in (0, 1].
    eps : float
        Added to the mean square before the square root.

    Returns
    -------
    torch.Tensor
        Normalised waveforms [batch, time].

    Example
    -------
    >>> wavs = torch.tensor([[1.0, 3.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    >>> out = normalize_waveform(wavs, torch.tensor([0.5, 1.0]))
    >>> out[0].round(decimals=4)
    tensor([-1.,  1.,  0.,  0.])
    """
    if lengths is None:
        centered = wavs - wavs.mean(dim=1, keepdim=True)
        mean_square = centered.square().mean(dim=1, keepdim=True)
        return centered / torch.sqrt(mean_square + eps)
    counts = relative_to_absolute(lengths, wavs.shape[1])
    mask = length_mask(counts, wavs.shape[1])
    n_valid = counts.to(wavs.dtype).unsqueeze(1)
    mean = torch.where(mask, wavs, 0.0).sum(dim=1, keepdim=True) / n_valid
    centered = torch.where(mask, wavs - mean, 0.0)
    mean_square = centered.square().sum(dim=1, keepdim=True) / n_valid
    return centered / torch.sqrt(mean_square + eps)


def periodic_hann_window(n, device=None, dtype=torch.float32):
    """The periodic Hann window of length ``n`` (as ``torch.hann_window``).

    Arguments
    ---------
    n : int
        Window length.
    device : torch.device, optional
        Device of the window.
    dtype : torch.dtype
        Floating-point type of the window.

    Returns
    -------
    torch.Tensor
        The window [n].

    Example
    -------
    >>> periodic_hann_window(4)
    tensor([0.0000, 0.5000, 1.0000, 0.5000])
    """
    k = torch.arange(n, device=device, dtype=dtype)
    return 0.5 - 0.5 * torch.cos(2.0 * math.pi * k / n)


def windowed_dft_basis(n_fft, device=None, dtype=torch.float32):
    """Real and imaginary rows of the one-sided DFT times a periodic Hann.

    The phase index ``f * k`` is reduced modulo ``n_fft`` in integers first,
    so the basis is exact to float32 precision for any ``n_fft``.

    Arguments
    ---------
    n_fft : int
        Window and DFT length.
    device : torch.device, optional
        Device of the basis.
    dtype : torch.dtype
        Floating-point type of the basis.

    Returns
    -------
    torch.Tensor
        Basis [2 * (n_fft // 2 + 1), n_fft]: cosine rows, then -sine rows.

    Example
    -------
    >>> windowed_dft_basis(64).shape
    torch.Size([66, 64])
    """
    n_freqs = n_fft // 2 + 1
    freqs = torch.arange(n_freqs, device=device).unsqueeze(1)
    samples = torch.arange(n_fft, device=device).unsqueeze(0)
    phase_index = torch.remainder(freqs * samples, n_fft).to(dtype)
    phase = (2.0 * math.pi / n_fft) * phase_index
    window = periodic_hann_window(n_fft, device=device, dtype=dtype)
    return torch.cat([torch.cos(phase), -torch.sin(phase)], dim=0) * window


def hz_to_mel_slaney(freqs):
    """Hertz to Slaney mels (librosa's ``htk=False``).

    Arguments
    ---------
    freqs : torch.Tensor
        Frequencies in Hz.

    Returns
    -------
    torch.Tensor
        Mels, same shape.

    Example
    -------
    >>> hz_to_mel_slaney(torch.tensor([0.0, 1000.0]))
    tensor([ 0., 15.])
    """
    linear = freqs / _SLANEY_HZ_PER_MEL
    log_part = (
        _SLANEY_MIN_LOG_MEL
        + torch.log(
            torch.clamp(freqs, min=_SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ
        )
        / _SLANEY_LOG_STEP
    )
    return torch.where(freqs >= _SLANEY_MIN_LOG_HZ, log_part, linear)


def mel_to_hz_slaney(mels):
    """Slaney mels to Hertz, the inverse of :func:`hz_to_mel_slaney`.

    Arguments
    ---------
    mels : torch.Tensor
        Mels.

    Returns
    -------
    torch.Tensor
        Frequencies in Hz, same shape.

    Example
    -------
    >>> mel_to_hz_slaney(torch.tensor([0.0, 15.0]))
    tensor([   0., 1000.])
    """
    linear = mels * _SLANEY_HZ_PER_MEL
    log_part = _SLANEY_MIN_LOG_HZ * torch.exp(
        _SLANEY_LOG_STEP * (mels - _SLANEY_MIN_LOG_MEL)
    )
    return torch.where(mels >= _SLANEY_MIN_LOG_MEL, log_part, linear)


def slaney_mel_filterbank(
    n_freqs,
    n_mels,
    sample_rate,
    f_min=0.0,
    f_max=None,
    device=None,
    dtype=torch.float32,
):
    """Triangular mel filters on the Slaney scale with Slaney (area) norm.

    Equal to librosa's ``filters.mel`` defaults and to torchaudio's
    ``melscale_fbanks(norm="slaney", mel_scale="slaney")``.

    Arguments
    ---------
    n_freqs : int
        Number of one-sided FFT bins (``n_fft // 2 + 1``).
    n_mels : int
        Number of mel bands.
    sample_rate : int
        Sample rate in Hz.
    f_min, f_max : float
        Frequency range in Hz; ``f_max`` defaults to ``sample_rate / 2``.
    device : torch.device, optional
        Device of the filterbank.
    dtype : torch.dtype
        Floating-point type of the filterbank.

    Returns
    -------
    torch.Tensor
        Filterbank [n_freqs, n_mels]; ``power @ filterbank`` gives mel power.

    Example
    -------
    >>> slaney_mel_filterbank(33, 26, 16000).shape
    torch.Size([33, 26])
    """
    if f_max is None:
        f_max = sample_rate / 2.0
    bin_step = (sample_rate / 2.0) / (n_freqs - 1)
    fft_freqs = torch.arange(n_freqs, device=device, dtype=dtype) * bin_step
    mel_limits = hz_to_mel_slaney(
        torch.tensor([f_min, f_max], device=device, dtype=dtype)
    )
    mel_step = (mel_limits[1] - mel_limits[0]) / (n_mels + 1)
    mel_points = mel_limits[0] + mel_step * torch.arange(
        n_mels + 2, device=device, dtype=dtype
    )
    edges = mel_to_hz_slaney(mel_points)  # band edges in Hz, [n_mels + 2]
    widths = edges[1:] - edges[:-1]
    # Distance of every FFT bin to every edge: [n_mels + 2, n_freqs].
    ramps = edges.unsqueeze(1) - fft_freqs.unsqueeze(0)
    rising = -ramps[:-2] / widths[:-1].unsqueeze(1)
    falling = ramps[2:] / widths[1:].unsqueeze(1)
    triangles = torch.clamp(torch.minimum(rising, falling), min=0.0)
    area_norm = 2.0 / (edges[2:] - edges[:-2])
    return (triangles * area_norm.unsqueeze(1)).transpose(0, 1)
