"""Training-time augmentation of a batch: SpeechBrain's waveform
augmentation, then mixup, with the targets kept in step.

With targets from a label cache, a copy added by the augmenter gets its
source's targets and a mixture gets the same mixture of targets; with the
teacher on the fly (``targets=None``) the teacher labels the very waveform
the student sees, after both.

Authors
 * speechbrain-wav2small contributors 2026
"""

import torch


def augment_and_mix(
    wavs, lengths, targets=None, augment=None, mixup_alpha=0.0, mixup_prob=1.0
):
    """Waveform augmentation, then mixup: ``(wavs, lengths, targets)``.

    Arguments
    ---------
    wavs : torch.Tensor
        Waveforms [batch, time].
    lengths : torch.Tensor
        Relative lengths [batch] in (0, 1].
    targets : torch.Tensor, optional
        Targets [batch, D], replicated and mixed alongside; ``None`` when a
        teacher labels the result.
    augment : speechbrain.augment.augmenter.Augmenter, optional
        SpeechBrain's augmenter; it may add copies of the batch
        (``concat_original`` or several augmentations), whose targets are
        replicated with it.
    mixup_alpha : float
        Beta parameter of :func:`mixup`; 0 disables mixup.
    mixup_prob : float
        Probability that a batch is mixed.

    Returns
    -------
    wavs : torch.Tensor
        Augmented waveforms.
    lengths : torch.Tensor
        Their relative lengths.
    targets : torch.Tensor or None
        Targets in step with ``wavs`` (``None`` if none were given).

    Example
    -------
    >>> wavs, lengths = torch.randn(4, 100), torch.ones(4)
    >>> out, _, targets = augment_and_mix(
    ...     wavs, lengths, torch.rand(4, 3), mixup_alpha=0.4, mixup_prob=1.0
    ... )
    >>> out.shape, targets.shape
    (torch.Size([4, 100]), torch.Size([4, 3]))
    """
    if augment is not None:
        n_before = wavs.shape[0]
        wavs, lengths = augment(wavs, lengths)
        if targets is not None and wavs.shape[0] != n_before:
            targets = augment.replicate_labels(targets)
    if mixup_alpha > 0 and float(torch.rand(1)) < mixup_prob:
        wavs, lengths, targets = mixup(wavs, lengths, targets, mixup_alpha)
    return wavs, lengths, targets


def mixup(wavs, lengths, targets, alpha):
    """Mixes each waveform with another of the batch (Beta(alpha) weight).

    Targets, when given, are mixed with the same weights; with
    ``targets=None`` (teacher on the fly) the teacher relabels the mixture.
    The mixture is as long as the longer of its two sources.

    Arguments
    ---------
    wavs : torch.Tensor
        Waveforms [batch, time].
    lengths : torch.Tensor
        Relative lengths [batch] in (0, 1].
    targets : torch.Tensor or None
        Targets [batch, D], mixed alike; ``None`` to leave them to the
        teacher.
    alpha : float
        Parameter of the symmetric Beta distribution of the weights.

    Returns
    -------
    mixed : torch.Tensor
        Mixed waveforms [batch, time].
    new_lengths : torch.Tensor
        Relative lengths of the mixtures [batch].
    targets : torch.Tensor or None
        Mixed targets [batch, D], or ``None``.

    Example
    -------
    >>> wavs, lengths = torch.randn(4, 100), torch.tensor([1.0, 0.5, 0.8, 1])
    >>> mixed, new_lengths, _ = mixup(wavs, lengths, torch.rand(4, 3), 0.4)
    >>> mixed.shape, bool((new_lengths >= lengths).all())
    (torch.Size([4, 100]), True)
    """
    weights = (
        torch.distributions.Beta(alpha, alpha)
        .sample((wavs.shape[0],))
        .to(wavs.device)
    )
    # The larger weight stays on the original item, so it dominates.
    weights = torch.maximum(weights, 1.0 - weights)
    partner = torch.randperm(wavs.shape[0], device=wavs.device)
    mixed = weights[:, None] * wavs + (1 - weights[:, None]) * wavs[partner]
    new_lengths = torch.maximum(lengths, lengths[partner])
    if targets is not None:
        targets = (
            weights[:, None] * targets
            + (1 - weights[:, None]) * targets[partner]
        )
    return mixed, new_lengths, targets
