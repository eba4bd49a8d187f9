"""Output-layer initialisation for training a student with the CCC loss.

With its default (random) initialisation, a student's head starts with
predictions whose correlation with the targets is a coin toss. Where it is
negative, the CCC loss ``1 - 2 cov / (var_p + var_y + (mean_p - mean_y)^2)``
falls towards 1 by inflating the predictions' variance and moving their mean
away, and its gradient vanishes as they grow: a deep student (the
MobileNets, Wav2Small at 72K) trained with Adam can settle there within a
few steps, with every prediction far off scale and a loss stuck at 1.00. A
zero head predicts a constant at first, and the loss's first gradient then
points each output along its targets (positive covariance), as
:func:`zero_head` and its test show.

Each student's YAML says whether it starts from a zero head
(``training: zero_head``, read by :func:`distillation_student`): the
MobileNets and the 72K Wav2Small do; the released-size Wav2Small trains
well from its random head and keeps it (see its YAML for why).

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch
from torch import nn

from speechbrain_wav2small.students import load_student_hparams, training_block


def zero_head(model):
    """Zeroes the weight and bias of a student's linear head, in place.

    Arguments
    ---------
    model : torch.nn.Module
        A student with a ``head`` attribute that is an ``nn.Linear`` (every
        student of :mod:`speechbrain_wav2small.students`).

    Returns
    -------
    torch.nn.Module
        ``model`` itself, so that a call can wrap the student it builds.

    Example
    -------
    >>> from speechbrain_wav2small.lobes.wav2small import Wav2Small
    >>> model = zero_head(Wav2Small()).eval()
    >>> model(torch.randn(2, 8000)).abs().max().item()
    0.0
    """
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        raise TypeError(
            f"{type(model).__name__} has no linear 'head' to initialise "
            "(a student's YAML must build a model with model.head, "
            "an nn.Linear)"
        )
    with torch.no_grad():
        head.weight.zero_()
        if head.bias is not None:
            head.bias.zero_()
    return model


def distillation_student(student):
    """Builds a student for distillation, with the head its YAML asks for.

    Arguments
    ---------
    student : str
        A name from :data:`speechbrain_wav2small.students.STUDENTS` or a
        path to a student YAML.

    Returns
    -------
    torch.nn.Module
        The student, its head zeroed (:func:`zero_head`) unless its YAML's
        ``training`` block says ``zero_head: False``.

    Example
    -------
    >>> model = distillation_student("mobilenetv3_small")
    >>> model.head.weight.abs().sum().item()
    0.0
    >>> distillation_student("wav2small").head.weight.abs().sum().item() > 0
    True
    """
    hparams = load_student_hparams(student)
    if training_block(hparams).get("zero_head", True):
        zero_head(hparams["model"])
    return hparams["model"]
