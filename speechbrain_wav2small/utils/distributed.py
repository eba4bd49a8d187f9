"""Distributed runs: process group, ranks, DDP wrapping and unwrapping.

Under ``torchrun`` SpeechBrain 1.1 converts every BatchNorm of a trainable
module to ``SyncBatchNorm``, which only runs on GPU: a CPU (gloo) run of a
model with BatchNorm (every student here) fails before its first step. On
CPU this mixin wraps the modules in DDP and keeps per-process BatchNorm
statistics; on GPU it leaves SpeechBrain's behaviour unchanged.

Authors
 * speechbrain-wav2small contributors 2026
"""

import os

import torch
from speechbrain.utils.distributed import ddp_init_group, ddp_prevent_block
from torch.nn.parallel import DataParallel, DistributedDataParallel


class CPUDistributedMixin:
    """Mix into a ``speechbrain.Brain`` subclass, before ``Brain``.

    Example
    -------
    >>> import speechbrain as sb
    >>> class MyBrain(CPUDistributedMixin, sb.Brain):
    ...     pass
    >>> MyBrain._wrap_distributed is CPUDistributedMixin._wrap_distributed
    True
    """

    def _wrap_distributed(self):
        """Wraps trainable modules in plain DDP on CPU (no SyncBatchNorm);
        defers to SpeechBrain otherwise."""
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
    """The bare module inside (Distributed)DataParallel wrappers.

    Arguments
    ---------
    module : torch.nn.Module
        A module, wrapped or not.

    Returns
    -------
    torch.nn.Module
        The innermost wrapped module (``module`` itself if unwrapped).

    Example
    -------
    >>> layer = torch.nn.Linear(2, 2)
    >>> unwrap(layer) is layer, unwrap(DataParallel(layer)) is layer
    (True, True)
    """
    while isinstance(module, (DataParallel, DistributedDataParallel)):
        module = module.module
    return module


def init_distributed(device="cpu"):
    """Joins the process group when started by ``torchrun``.

    gloo for CPU devices, nccl for CUDA (each rank on ``cuda:LOCAL_RANK``).
    Without ``torchrun`` (``WORLD_SIZE`` unset or 1) nothing happens.

    Arguments
    ---------
    device : str
        The requested device (``"cpu"``, ``"cuda"``...).

    Returns
    -------
    str
        The device this process should use.

    Example
    -------
    >>> init_distributed("cpu")  # not under torchrun
    'cpu'
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    cuda = str(device).startswith("cuda")
    if not torch.distributed.is_initialized():
        ddp_init_group({"distributed_backend": "nccl" if cuda else "gloo"})
    if cuda:
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return device


def rank_and_world():
    """This process's rank and the number of processes sharing the work.

    Inside SpeechBrain's ``run_on_main`` only rank 0 runs: it then does
    everything on its own, without waiting for the other ranks.

    Example
    -------
    >>> rank_and_world()
    (0, 1)
    """
    if ddp_prevent_block() or not torch.distributed.is_initialized():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def sum_over_ranks(values):
    """Element-wise sums of ``values`` over all ranks.

    Arguments
    ---------
    values : list of float
        This rank's numbers; every rank passes as many.

    Returns
    -------
    list of float
        The sums (``values`` as floats in a single process).

    Example
    -------
    >>> sum_over_ranks([1, 2.5])
    [1.0, 2.5]
    """
    totals = torch.tensor(values, dtype=torch.float64)
    if rank_and_world()[1] > 1:
        torch.distributed.all_reduce(totals)
    return totals.tolist()
