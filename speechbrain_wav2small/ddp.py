"""Distributed training on CPU with SpeechBrain 1.1.

Under ``torchrun`` SpeechBrain 1.1 converts every BatchNorm of a trainable
module to ``SyncBatchNorm``, which only runs on GPU: a CPU (gloo) run of a
model with BatchNorm (every student here) fails before its first step. On
CPU this mixin wraps the modules in DDP and keeps per-process BatchNorm
statistics; on GPU it leaves SpeechBrain's behaviour unchanged.

Authors
 * speechbrain-wav2small contributors 2026
"""

from torch.nn.parallel import DistributedDataParallel


class CPUDistributedMixin:
    """Mix into a ``speechbrain.Brain`` subclass, before ``Brain``."""

    def _wrap_distributed(self):
        if not self.distributed_launch or not str(self.device).startswith(
            "cpu"
        ):
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = DistributedDataParallel(
                    module,
                    device_ids=None,
                    find_unused_parameters=self.find_unused_parameters,
                )
        return None


def unwrap(module):
    """The module inside a DDP wrapper (or the module itself).

    Example
    -------
    >>> import torch
    >>> layer = torch.nn.Linear(2, 2)
    >>> unwrap(layer) is layer
    True
    """
    if isinstance(module, DistributedDataParallel):
        return module.module
    return module
