"""The concordance correlation coefficient: metric, loss and corpus statistic.

Lin's CCC, with population moments,
``2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))**2)``, rewards
predictions that correlate with the targets *and* share their mean and
scale. It is the metric of MSP-Podcast and of the Wav2Small paper.

Three uses, one home:

* :func:`ccc` is the metric: exact, NaN (with a warning) when undefined;
* :class:`CCCLoss` trains on batch statistics, ``1 - CCC`` per dimension,
  with an epsilon in the denominator (only here) so a constant batch still
  gives a finite gradient;
* :class:`CCCStats` accumulates a whole evaluation set and computes the CCC
  once at ``summarize()``: the average of per-batch CCCs is not the corpus
  CCC.

Authors
 * speechbrain-wav2small contributors 2026
"""

import warnings

import torch
from speechbrain.utils.metric_stats import MetricStats
from torch import nn

from speechbrain_wav2small import DIMENSIONS
from speechbrain_wav2small.functional import at_least_float32, autocast_off


def _as_columns(values, name):
    """``values`` as [N, D] columns ([N] becomes [N, 1])."""
    values = torch.as_tensor(values)
    if values.dim() == 1:
        values = values.unsqueeze(1)
    if values.dim() != 2:
        raise ValueError(
            f"{name} must be [N] or [N, dimensions], got {tuple(values.shape)}"
        )
    return values


def _paired_columns(predictions, targets):
    """Both inputs as [N, D] columns of the same shape (and dtype)."""
    x = _as_columns(predictions, "predictions")
    y = _as_columns(targets, "targets").to(dtype=x.dtype, device=x.device)
    if x.shape != y.shape:
        raise ValueError(
            f"predictions {tuple(x.shape)} and targets {tuple(y.shape)} "
            "must have the same shape"
        )
    return x, y


def _ccc_terms(x, y):
    """Covariance and CCC denominator per column (population moments)."""
    mean_x, mean_y = x.mean(dim=0), y.mean(dim=0)
    covariance = ((x - mean_x) * (y - mean_y)).mean(dim=0)
    denominator = (
        (x - mean_x).square().mean(dim=0)
        + (y - mean_y).square().mean(dim=0)
        + (mean_x - mean_y).square()
    )
    return covariance, denominator


def ccc(predictions, targets):
    """Lin's concordance correlation coefficient per dimension.

    Arguments
    ---------
    predictions : torch.Tensor
        [N] or [N, D] predicted values.
    targets : torch.Tensor
        Same shape as ``predictions``.

    Returns
    -------
    torch.Tensor
        [D] float64 CCC per column (a 0-dim tensor for 1-D inputs). NaN,
        with a warning, where it is undefined: fewer than two items, or
        predictions and targets both constant and equal.

    Example
    -------
    >>> y = torch.tensor([0.1, 0.4, 0.5, 0.9])
    >>> float(ccc(y, y))
    1.0
    >>> round(float(ccc(y + 0.1, y)), 3)
    0.942
    """
    squeeze = torch.as_tensor(predictions).dim() == 1
    x, y = _paired_columns(
        torch.as_tensor(predictions).detach().double(),
        torch.as_tensor(targets).detach(),
    )
    n_items = x.shape[0]
    if n_items < 2:
        warnings.warn(
            f"CCC is undefined for {n_items} item(s); returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        result = torch.full(
            (x.shape[1],), float("nan"), dtype=torch.float64, device=x.device
        )
        return result[0] if squeeze else result
    covariance, denominator = _ccc_terms(x, y)
    undefined = denominator == 0
    if bool(undefined.any()):
        columns = undefined.nonzero().flatten().tolist()
        warnings.warn(
            "CCC is undefined (zero denominator: predictions and targets "
            f"constant and equal) in column(s) {columns}; returning NaN there",
            RuntimeWarning,
            stacklevel=2,
        )
    result = torch.where(
        undefined,
        torch.full_like(denominator, float("nan")),
        2.0 * covariance / torch.where(undefined, 1.0, denominator),
    )
    return result[0] if squeeze else result


def ccc_loss(predictions, targets, weights=None, eps=1e-8):
    """``1 - CCC`` on batch statistics, averaged over dimensions.

    Computed in float32 at least, with autocast off: the moments of a
    batch of bfloat16 predictions (8 bits of mantissa) would lose the
    small differences CCC is made of. Gradients flow back in the
    predictions' own dtype.

    Arguments
    ---------
    predictions : torch.Tensor
        [batch, D] model outputs.
    targets : torch.Tensor
        [batch, D] targets (cast to the predictions' dtype).
    weights : sequence of float, optional
        Per-dimension weights; normalised to sum to one.
    eps : float
        Added to the denominator so a constant batch gives a finite loss.

    Returns
    -------
    torch.Tensor
        Scalar loss in [0, 2].

    Example
    -------
    >>> y = torch.tensor([[0.1, 0.2], [0.4, 0.3], [0.8, 0.1]])
    >>> float(ccc_loss(y, y)) < 1e-6
    True
    >>> ccc_loss(y.bfloat16(), y).dtype
    torch.float32
    """
    x, y = _paired_columns(
        at_least_float32(predictions), at_least_float32(targets)
    )
    with autocast_off(x.device):
        covariance, denominator = _ccc_terms(x, y)
        per_dimension = 1.0 - 2.0 * covariance / (denominator + eps)
        if weights is None:
            return per_dimension.mean()
        weights = torch.as_tensor(weights, dtype=x.dtype, device=x.device)
        if weights.shape != per_dimension.shape:
            raise ValueError(
                f"{weights.numel()} weights given for "
                f"{per_dimension.numel()} dimensions"
            )
        return (per_dimension * weights).sum() / weights.sum()


class CCCLoss(nn.Module):
    """Module form of :func:`ccc_loss`, for hyperpyyaml.

    Arguments
    ---------
    weights : sequence of float, optional
        Per-dimension weights (arousal, dominance, valence by default order).
    eps : float
        Denominator epsilon.

    Example
    -------
    >>> loss = CCCLoss(weights=[1.0, 1.0, 2.0])
    >>> predictions = torch.randn(8, 3, requires_grad=True)
    >>> value = loss(predictions, torch.rand(8, 3))
    >>> value.backward()
    >>> bool(torch.isfinite(predictions.grad).all())
    True
    """

    def __init__(self, weights=None, eps=1e-8):
        super().__init__()
        self.weights = None if weights is None else [float(w) for w in weights]
        self.eps = eps

    def forward(self, predictions, targets):
        """Computes the loss.

        Arguments
        ---------
        predictions : torch.Tensor
            [batch, D] model outputs.
        targets : torch.Tensor
            [batch, D] targets.

        Returns
        -------
        torch.Tensor
            Scalar loss in [0, 2].
        """
        return ccc_loss(predictions, targets, self.weights, self.eps)


class CCCStats(MetricStats):
    """Corpus-level CCC per emotion dimension, for Brain evaluation stages.

    ``append`` stores predictions and targets; ``summarize`` computes the CCC
    once over everything appended. The summary holds ``ccc`` (mean over
    dimensions, NaN if any dimension is undefined) and ``ccc_<name>`` per
    dimension, so ``checkpointer.save_and_keep_only(meta=summary,
    max_keys=["ccc"])`` keeps the best model.

    Arguments
    ---------
    dimensions : sequence of str
        Names of the columns, in order.

    Example
    -------
    >>> stats = CCCStats()
    >>> targets = torch.rand(6, 3)
    >>> stats.append(["a", "b", "c"], targets[:3] * 0.9, targets[:3])
    >>> stats.append(["d", "e", "f"], targets[3:] * 0.9, targets[3:])
    >>> summary = stats.summarize()
    >>> sorted(summary)
    ['ccc', 'ccc_arousal', 'ccc_dominance', 'ccc_valence']
    >>> summary["ccc"] > 0.8
    True
    """

    def __init__(self, dimensions=DIMENSIONS):
        self.dimensions = tuple(dimensions)
        self.clear()

    def clear(self):
        """Empties the accumulated predictions, targets and summary."""
        self.ids = []
        self.predictions = []
        self.targets = []
        self.summary = {}

    def append(self, ids, predictions, targets):
        """Stores one batch.

        Arguments
        ---------
        ids : list of str
            Utterance ids, one per row.
        predictions : torch.Tensor
            [batch, D] predictions.
        targets : torch.Tensor
            [batch, D] targets.
        """
        predictions = _as_columns(predictions, "predictions")
        targets = _as_columns(targets, "targets")
        expected = (len(ids), len(self.dimensions))
        for name, values in (
            ("predictions", predictions),
            ("targets", targets),
        ):
            if tuple(values.shape) != expected:
                raise ValueError(
                    f"{name} must be {list(expected)} for {len(ids)} ids and "
                    f"dimensions {self.dimensions}, got {list(values.shape)}"
                )
        self.ids.extend(ids)
        self.predictions.append(predictions.detach().cpu().double())
        self.targets.append(targets.detach().cpu().double())

    def summarize(self, field=None):
        """Computes the corpus-level CCC over everything appended.

        Arguments
        ---------
        field : str, optional
            One key of the summary (``"ccc"``, ``"ccc_arousal"``...).

        Returns
        -------
        dict or float
            The whole summary, or its ``field``.
        """
        if self.predictions:
            predictions = torch.cat(self.predictions)
            targets = torch.cat(self.targets)
        else:
            predictions = targets = torch.zeros(0, len(self.dimensions))
        per_dimension = ccc(predictions, targets)
        self.summary = {"ccc": float(per_dimension.mean())}
        for name, value in zip(
            self.dimensions, per_dimension.tolist(), strict=True
        ):
            self.summary[f"ccc_{name}"] = value
        if field is not None:
            return self.summary[field]
        return self.summary

    def write_stats(self, filestream, verbose=False):
        """Writes one line per figure of the summary to ``filestream``.

        Arguments
        ---------
        filestream : io.TextIOBase
            Where the lines go.
        verbose : bool
            Also print them.

        Example
        -------
        >>> import io
        >>> stats = CCCStats(dimensions=["arousal"])
        >>> stats.append(["a", "b"], torch.tensor([[0.1], [0.9]]),
        ...              torch.tensor([[0.1], [0.9]]))
        >>> stream = io.StringIO()
        >>> stats.write_stats(stream)
        >>> print(stream.getvalue(), end="")
        CCC over 2 utterances
        ccc: 1.0000
        ccc_arousal: 1.0000
        """
        if not self.summary:
            self.summarize()
        message = f"CCC over {len(self.ids)} utterances\n" + "".join(
            f"{key}: {value:.4f}\n" for key, value in self.summary.items()
        )
        filestream.write(message)
        if verbose:
            print(message)
