"""Teacher fingerprints: which teacher made a set of labels.

Authors
 * speechbrain-wav2small contributors 2026
"""

import hashlib
import json

import torch

from speechbrain_wav2small.lobes.teachers import EnsembleTeacher
from speechbrain_wav2small.teachers.checkpoint import legacy_weight_norm_names


def teacher_fingerprint(teacher):
    """SHA-256 over a teacher's inference config and weight bytes.

    The inference config holds the backbone's architecture fields, the
    window and the normalisation constants; the weights are hashed tensor by
    tensor (name, dtype, shape, bytes, sorted by name, weight-norm names
    made canonical), so the fingerprint is the same whether a teacher was
    read from ``model.safetensors``, from ``pytorch_model.bin`` or is still
    in memory. An ensemble hashes its weights and members' fingerprints.

    Arguments
    ---------
    teacher : torch.nn.Module
        A teacher of this package (single model or ensemble).

    Returns
    -------
    str
        ``"sha256:<64 hex digits>"``.

    Example
    -------
    >>> from speechbrain_wav2small.teachers import build_teacher
    >>> teacher = build_teacher("dawn", seed=0)
    >>> first = teacher_fingerprint(teacher)
    >>> with torch.no_grad():
    ...     teacher.classifier.out_proj.bias += 1e-3
    >>> teacher_fingerprint(teacher) == first
    False
    """
    digest = hashlib.sha256()
    config = teacher.inference_config()
    digest.update(json.dumps(config, sort_keys=True).encode("utf-8"))
    if isinstance(teacher, EnsembleTeacher):
        for member in teacher.members:
            digest.update(teacher_fingerprint(member).encode("ascii"))
        return "sha256:" + digest.hexdigest()
    state = legacy_weight_norm_names(teacher.state_dict())
    for key in sorted(state):
        tensor = state[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()
