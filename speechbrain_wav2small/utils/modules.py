"""Small helpers for ``torch.nn.Module`` objects.

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib


@contextlib.contextmanager
def eval_mode(module, device=None):
    """Runs the block with ``module`` in eval mode, then restores it.

    Arguments
    ---------
    module : torch.nn.Module
        The module; its training flag comes back as it was.
    device : str or torch.device, optional
        Moves the module there for the block, and back afterwards.

    Example
    -------
    >>> import torch
    >>> layer = torch.nn.Dropout().train()
    >>> with eval_mode(layer):
    ...     layer.training
    False
    >>> layer.training
    True
    """
    was_training = module.training
    previous = None
    if device is not None:
        previous = next(module.parameters()).device
        module.to(device)
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
        if previous is not None:
            module.to(previous)
