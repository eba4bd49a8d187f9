"""Weak-teacher guard: refuse to distil a teacher that learned too little.

A student copies its teacher, weaknesses included: a teacher whose CCC
against human labels is near zero, or whose labels barely move, yields a
student that is just as useless, and the chain would finish without a
complaint. These pure functions judge each dimension on two figures:

* **CCC against human labels** (where the clips have human labels): below
  :data:`DEFAULT_MIN_CCC` the teacher is no better than a weak baseline.
* **Spread of its labels**: the standard deviation of the teacher's labels
  divided by that of the human labels on the same clips, or, without
  human labels, by :data:`REFERENCE_HUMAN_STD`. Below
  :data:`DEFAULT_MIN_SPREAD_RATIO` the labels barely move and cannot teach
  that dimension (the CCC loss of the student then mostly fits noise).

Thresholds (recipe hparams ``min_teacher_ccc`` and
``min_teacher_spread_ratio``):

* ``min_ccc = 0.3``: published MSP-Podcast teachers reach 0.6-0.75 on
  arousal, 0.55-0.65 on dominance and 0.4-0.65 on valence; the simplest
  acoustic baselines (eGeMAPS + linear model) reach about 0.3-0.5 on
  arousal and 0.1-0.2 on valence. Below 0.3 a teacher carries too little
  of the human rating to be worth distilling on any dimension, while every
  reasonable fine-tuned teacher is well above it.
* ``min_spread_ratio = 0.25``: a CCC-trained model's predictions shrink
  towards the mean, typically to 0.5-0.9 of the human spread; a quarter of
  it means the labels hardly vary across clips (e.g. std 0.04 where humans
  spread 0.16 on the 0..1 scale), so the teacher says almost the same
  thing for every clip.

Authors
 * speechbrain-wav2small contributors 2026
"""

import math

import numpy as np

from speechbrain_wav2small import DIMENSIONS

#: Minimum CCC against human labels on every dimension (see above).
DEFAULT_MIN_CCC = 0.3
#: Minimum std(teacher labels) / std(human labels) on every dimension.
DEFAULT_MIN_SPREAD_RATIO = 0.25
#: Standard deviation of MSP-Podcast human labels on the 0..1 scale (about
#: one rating point of six on each dimension), the reference spread when
#: the clips have no human labels.
REFERENCE_HUMAN_STD = 0.16

#: What to try when the guard stops a run.
ADVICE = (
    "Try: more epochs or a higher learning rate for the teacher; a "
    "pretrained teacher (`--teacher dawn`, or distil with "
    "--teacher_hparams dawn and no fine-tuning); or your own teacher's "
    "predictions (--teacher_labels CSV, see 'Distil any teacher' in the "
    "recipe README). To continue anyway, pass --accept_weak_teacher True "
    "(results.json and the chain's final table then carry a warning)."
)


class WeakTeacherError(RuntimeError):
    """The teacher is below the guard's thresholds on some dimension.

    Arguments
    ---------
    message : str
        What is weak, the figures and what to try.
    record : dict, optional
        The verdict, as :func:`enforce_verdict` records it (for
        ``results.json``).
    """

    def __init__(self, message, record=None):
        super().__init__(message)
        self.record = record


def _columns(values):
    """``values`` as a float64 [N, 3] array (or ``None``)."""
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(DIMENSIONS):
        raise ValueError(
            f"labels must be [N, {len(DIMENSIONS)}], got {list(array.shape)}"
        )
    return array


def concordance(predictions, targets):
    """Lin's CCC per dimension (NaN where undefined), in numpy.

    Arguments
    ---------
    predictions, targets : array_like
        [N, 3] values.

    Returns
    -------
    numpy.ndarray
        [3] CCC values.

    Example
    -------
    >>> y = np.array([[0.1, 0.2, 0.3], [0.5, 0.4, 0.9], [0.9, 0.7, 0.1]])
    >>> concordance(y, y).tolist()
    [1.0, 1.0, 1.0]
    """
    x, y = _columns(predictions), _columns(targets)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    covariance = ((x - mx) * (y - my)).mean(axis=0)
    denominator = x.var(axis=0) + y.var(axis=0) + (mx - my) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * covariance / denominator, np.nan)


def assess_teacher(
    ccc=None,
    teacher_labels=None,
    human_labels=None,
    min_ccc=DEFAULT_MIN_CCC,
    min_spread_ratio=DEFAULT_MIN_SPREAD_RATIO,
):
    """Judges a teacher dimension by dimension.

    Arguments
    ---------
    ccc : dict, optional
        CCC against human labels, keyed ``ccc_<dimension>`` (a
        :class:`~speechbrain_wav2small.objectives.CCCStats` summary). When
        absent but both label sets are given, it is computed from them.
    teacher_labels : array_like, optional
        [N, 3] teacher labels on some clips (for the spread check).
    human_labels : array_like, optional
        [N, 3] human labels on the same clips, in the same order.
    min_ccc : float
        Minimum CCC on every dimension.
    min_spread_ratio : float
        Minimum std(teacher) / std(human) (or / :data:`REFERENCE_HUMAN_STD`
        without human labels) on every dimension.

    Returns
    -------
    dict
        ``{"weak": bool, "problems": [str, ...], "figures": {dimension:
        {...}}, "thresholds": {...}}``; each problem names the dimension
        and its figures.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> human = rng.uniform(size=(200, 3))
    >>> assess_teacher(teacher_labels=human + 0.01, human_labels=human)["weak"]
    False
    >>> verdict = assess_teacher(teacher_labels=np.full((200, 3), 0.5))
    >>> verdict["weak"], verdict["problems"][0][:42]
    (True, 'arousal: label spread ratio 0.000 < 0.25 (')
    """
    teacher = _columns(teacher_labels)
    human = _columns(human_labels)
    if human is not None and teacher is not None:
        if human.shape != teacher.shape:
            raise ValueError(
                f"teacher labels {list(teacher.shape)} and human labels "
                f"{list(human.shape)} must cover the same clips"
            )
        if ccc is None and len(teacher) >= 2:
            values = concordance(teacher, human)
            pairs = zip(DIMENSIONS, values, strict=True)
            ccc = {f"ccc_{d}": float(v) for d, v in pairs}
    figures, problems = {}, []
    for index, dimension in enumerate(DIMENSIONS):
        entry = {}
        if ccc is not None and f"ccc_{dimension}" in ccc:
            value = float(ccc[f"ccc_{dimension}"])
            entry["ccc"] = value
            # NaN (constant labels) fails too: it is no evidence of skill.
            if not value >= min_ccc:
                problems.append(
                    f"{dimension}: CCC vs human labels {value:.3f} < "
                    f"{min_ccc:g}"
                )
        if teacher is not None and len(teacher) >= 2:
            std = float(teacher[:, index].std())
            if human is not None:
                reference = float(human[:, index].std())
                basis = "std of the human labels on the same clips"
            else:
                reference = REFERENCE_HUMAN_STD
                basis = "typical human std on the 0..1 scale"
            ratio = std / reference if reference > 0 else math.inf
            entry.update(std=std, reference_std=reference, spread_ratio=ratio)
            if ratio < min_spread_ratio:
                problems.append(
                    f"{dimension}: label spread ratio {ratio:.3f} < "
                    f"{min_spread_ratio:g} (std {std:.4f} vs {reference:.4f}"
                    f", the {basis}; {len(teacher)} clips)"
                )
        figures[dimension] = entry
    return {
        "weak": bool(problems),
        "problems": problems,
        "figures": figures,
        "thresholds": {
            "min_ccc": min_ccc,
            "min_spread_ratio": min_spread_ratio,
        },
    }


def weak_teacher_message(verdict, where):
    """The message of a weak verdict: what, the figures, what to try.

    Arguments
    ---------
    verdict : dict
        From :func:`assess_teacher`.
    where : str
        What was checked (e.g. ``"teacher fine-tuning (Development)"``).

    Returns
    -------
    str

    Example
    -------
    >>> verdict = assess_teacher(ccc={"ccc_arousal": .1, "ccc_dominance": .5,
    ...                               "ccc_valence": .5})
    >>> print(weak_teacher_message(verdict, "x").splitlines()[1])
      - arousal: CCC vs human labels 0.100 < 0.3
    """
    lines = [f"Weak teacher after {where}: it cannot teach"]
    lines += [f"  - {problem}" for problem in verdict["problems"]]
    lines.append(ADVICE)
    return "\n".join(lines)


def enforce_verdict(verdict, where, accept_weak=False):
    """Stops a weak teacher, or turns it into a warning when accepted.

    Arguments
    ---------
    verdict : dict
        From :func:`assess_teacher`.
    where : str
        What was checked, for the message.
    accept_weak : bool
        Continue anyway (``--accept_weak_teacher``).

    Returns
    -------
    dict
        The record for ``results.json`` (``{"weak", "accepted",
        "problems", "figures", "thresholds", "warning"}``; ``warning`` is
        the message when a weak teacher was accepted, else ``None``).

    Raises
    ------
    WeakTeacherError
        The teacher is weak and ``accept_weak`` is False.

    Example
    -------
    >>> weak = assess_teacher(teacher_labels=np.zeros((4, 3)))
    >>> enforce_verdict(weak, "labelling")
    Traceback (most recent call last):
     ...
    speechbrain_wav2small.training.teacher_guard.WeakTeacherError: ...
    >>> enforce_verdict(weak, "labelling", True)["warning"][:12]
    'Weak teacher'
    """
    message = weak_teacher_message(verdict, where) if verdict["weak"] else None
    record = {**verdict, "where": where, "accepted": bool(message)}
    if message and not accept_weak:
        raise WeakTeacherError(
            message, {**record, "accepted": False, "warning": None}
        )
    return {**record, "warning": message}
