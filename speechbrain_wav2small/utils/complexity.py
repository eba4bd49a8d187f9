"""Model size and cost, counted rather than guessed.

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch
from torch.utils.flop_counter import FlopCounterMode

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.utils.modules import eval_mode


def count_parameters(model, trainable_only=True):
    """Number of (trainable) parameters of ``model``.

    Arguments
    ---------
    model : torch.nn.Module
        The model.
    trainable_only : bool
        Count only parameters that require gradients.

    Returns
    -------
    int
        The number of parameters.

    Example
    -------
    >>> count_parameters(torch.nn.Linear(4, 2))
    10
    """
    return sum(
        p.numel()
        for p in model.parameters()
        if p.requires_grad or not trainable_only
    )


@torch.no_grad()
def count_macs(model, seconds=1.0, sample_rate=SAMPLE_RATE):
    """Multiply-accumulates of one forward pass on ``seconds`` of audio.

    Counted by PyTorch's FLOP counter over matrix products and convolutions
    (one MAC is two FLOPs); elementwise work is not included.

    Arguments
    ---------
    model : torch.nn.Module
        A model mapping ``wavs [1, time]`` to its outputs; run in eval
        mode, its training flag is restored afterwards.
    seconds : float
        Length of the random input clip.
    sample_rate : int
        Samples per second of the input.

    Returns
    -------
    int
        Multiply-accumulates of the forward pass.

    Example
    -------
    >>> count_macs(torch.nn.Linear(16000, 1), seconds=1.0)
    16000
    """
    wavs = torch.randn(1, int(seconds * sample_rate))
    counter = FlopCounterMode(display=False)
    with eval_mode(model), counter:
        model(wavs)
    return counter.get_total_flops() // 2
