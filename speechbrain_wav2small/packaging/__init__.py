"""A trained student as a folder ready to upload to a model hub.

:func:`package_model` (a model in memory) and :func:`package_checkpoint` (a
SpeechBrain checkpoint on disk) write ``hyperparams.yaml``, ``model.ckpt``,
the float and int8 ONNX files, ``export.json`` and a README model card, so
that ``EmotionDimensions.from_hparams(source=DIR)`` loads the folder.

- :mod:`~speechbrain_wav2small.packaging.package`: assembling, checking and
  placing the folder;
- :mod:`~speechbrain_wav2small.packaging.checkpoint`: finding and strictly
  loading a student's checkpoint;
- :mod:`~speechbrain_wav2small.packaging.hyperparams`: the folder's
  ``hyperparams.yaml``;
- :mod:`~speechbrain_wav2small.packaging.model_card`: the README card;
- :mod:`~speechbrain_wav2small.packaging.audeering`: import of the authors'
  released Wav2Small.

Authors
 * speechbrain-wav2small contributors 2026
"""

from speechbrain_wav2small.packaging.checkpoint import (
    file_sha256,
    load_checkpoint,
    resolve_checkpoint,
)
from speechbrain_wav2small.packaging.hyperparams import (
    inference_hparams_yaml,
    student_name,
)
from speechbrain_wav2small.packaging.model_card import (
    DEFAULT_LICENSE,
    ccc_rows,
    metrics_table,
    model_card,
)
from speechbrain_wav2small.packaging.package import (
    PACKAGE_FILES,
    RELOAD_TOLERANCE,
    package_checkpoint,
    package_model,
)

__all__ = [
    "DEFAULT_LICENSE",
    "PACKAGE_FILES",
    "RELOAD_TOLERANCE",
    "ccc_rows",
    "file_sha256",
    "inference_hparams_yaml",
    "load_checkpoint",
    "metrics_table",
    "model_card",
    "package_checkpoint",
    "package_model",
    "resolve_checkpoint",
    "student_name",
]
