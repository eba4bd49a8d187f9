"""A trained student as a folder ready to upload to a model hub.

:func:`package_model` (a model in memory) and :func:`package_checkpoint` (a
SpeechBrain checkpoint on disk) write ``hyperparams.yaml``, ``model.ckpt``,
the float and int8 ONNX files, ``export.json``, a README model card and,
last, ``checksums.sha256``, so that
``EmotionDimensions.from_hparams(source=DIR)`` loads the folder;
:func:`push_package` checks such a folder and uploads it to the hub.

- :mod:`~speechbrain_wav2small.packaging.package`: assembling, checking and
  placing the folder;
- :mod:`~speechbrain_wav2small.packaging.checkpoint`: finding and strictly
  loading a student's checkpoint;
- :mod:`~speechbrain_wav2small.packaging.hyperparams`: the folder's
  ``hyperparams.yaml``;
- :mod:`~speechbrain_wav2small.packaging.model_card`: the README card;
- :mod:`~speechbrain_wav2small.packaging.reference_outputs`: what the
  packaged model files predict on shipped speech and on inputs without
  speech, recorded at packaging;
- :mod:`~speechbrain_wav2small.packaging.checksums`: the manifest of a
  package's files and its check;
- :mod:`~speechbrain_wav2small.packaging.push`: checking and uploading a
  package to the Hugging Face hub;
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
from speechbrain_wav2small.packaging.checksums import (
    ChecksumError,
    verify_checksums,
    write_checksums,
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
from speechbrain_wav2small.packaging.push import (
    PushError,
    check_package,
    push_package,
    upload_plan,
)
from speechbrain_wav2small.packaging.reference_outputs import (
    OutputMismatchError,
    compare_outputs,
    constant_inputs,
    measure_package,
)

__all__ = [
    "DEFAULT_LICENSE",
    "PACKAGE_FILES",
    "RELOAD_TOLERANCE",
    "ChecksumError",
    "OutputMismatchError",
    "PushError",
    "ccc_rows",
    "check_package",
    "compare_outputs",
    "constant_inputs",
    "file_sha256",
    "inference_hparams_yaml",
    "load_checkpoint",
    "measure_package",
    "metrics_table",
    "model_card",
    "package_checkpoint",
    "package_model",
    "push_package",
    "resolve_checkpoint",
    "student_name",
    "upload_plan",
    "verify_checksums",
    "write_checksums",
]
