"""Teachers: loading, saving and fingerprinting, one concept a module.

A teacher comes from a hub id or from a local folder holding the hub's
on-disk layout (``config.json``, ``model.safetensors`` or
``pytorch_model.bin``, ``preprocessor_config.json``); both go through the
same strict loader, which refuses a checkpoint without its trained
regression head. The YAML presets in ``hparams/teachers`` (top-level key
``teacher``) call the loaders.

* :mod:`~speechbrain_wav2small.teachers.configs`: teacher kinds, hub ids,
  backbone configs, random-weight teachers;
* :mod:`~speechbrain_wav2small.teachers.checkpoint`: the files of a
  hub-layout folder and their tensor naming;
* :mod:`~speechbrain_wav2small.teachers.strict_loading`: weights in,
  nothing missing, unexpected or mis-shaped;
* :mod:`~speechbrain_wav2small.teachers.loading`: the Dawn and Odyssey
  loaders;
* :mod:`~speechbrain_wav2small.teachers.presets`: teachers by YAML preset;
* :mod:`~speechbrain_wav2small.teachers.fingerprint`: which teacher it is;
* :mod:`~speechbrain_wav2small.teachers.hub_layout`: saving in the hub
  layout.

Typical use::

    teacher = load_teacher("dawn")                        # the hub model
    teacher = load_teacher("dawn", source="exp/teacher")  # a local folder
    save_teacher(teacher, "exp/copy")                     # hub layout

Authors
 * speechbrain-wav2small contributors 2026
"""

from speechbrain_wav2small.teachers.checkpoint import (
    CHECKPOINT_FILES,
    HUB_FILES,
    read_checkpoint,
)
from speechbrain_wav2small.teachers.configs import (
    DAWN_SOURCE,
    ODYSSEY_MEAN_APPROX,
    ODYSSEY_SOURCE,
    ODYSSEY_STD_APPROX,
    TEACHERS,
    WAVLM_LARGE,
    backbone_config,
    build_teacher,
    teacher_kind,
    tiny_teacher_config,
)
from speechbrain_wav2small.teachers.fingerprint import teacher_fingerprint
from speechbrain_wav2small.teachers.hub_layout import save_teacher
from speechbrain_wav2small.teachers.loading import (
    load_dawn_teacher,
    load_odyssey_teacher,
    load_pretrained_teacher,
)
from speechbrain_wav2small.teachers.presets import (
    load_teacher,
    teacher_hparams_file,
)
from speechbrain_wav2small.teachers.strict_loading import HeadWeightsError

__all__ = [
    "CHECKPOINT_FILES",
    "DAWN_SOURCE",
    "HUB_FILES",
    "HeadWeightsError",
    "ODYSSEY_MEAN_APPROX",
    "ODYSSEY_SOURCE",
    "ODYSSEY_STD_APPROX",
    "TEACHERS",
    "WAVLM_LARGE",
    "backbone_config",
    "build_teacher",
    "load_dawn_teacher",
    "load_odyssey_teacher",
    "load_pretrained_teacher",
    "load_teacher",
    "read_checkpoint",
    "save_teacher",
    "teacher_fingerprint",
    "teacher_hparams_file",
    "teacher_kind",
    "tiny_teacher_config",
]
