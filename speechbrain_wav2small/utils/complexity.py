"""Model size and cost, counted rather than guessed.

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch
from torch.utils.flop_counter import FlopCounterMode

from speechbrain_wav2small import SAMPLE_RATE


def count_parameters(model, trainable_only=True):
    """Number of (trainable) parameters of ``model``.

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

    Example
    -------
    >>> count_macs(torch.nn.Linear(16000, 1), seconds=1.0)
    16000
    """
    was_training = model.training
    model.eval()
    wavs = torch.randn(1, int(seconds * sample_rate))
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            model(wavs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
