"""ONNX export of a student: a float model and an int8 model, both checked.

:func:`export_onnx` (:mod:`~speechbrain_wav2small.export.onnx_export`)
writes ``model.onnx`` once it has passed its gate
(:mod:`~speechbrain_wav2small.export.gates`), and ``model.int8.onnx`` beside
it when the int8 copy passes its own (an int8 copy that fails is left out,
with a warning; ``quantization="none"`` asks for none). Both give the
scores (output ``scores``) and then the student's embeddings (output
``embeddings``, the pooled features its head reads). The pieces:
:mod:`~speechbrain_wav2small.export.wrappers` (the exported modules),
:mod:`~speechbrain_wav2small.export.tracing` (PyTorch to a finished ONNX
model), :mod:`~speechbrain_wav2small.export.graph` (graph surgery),
:mod:`~speechbrain_wav2small.export.audonnx_files` (the files audEERING's
audonnx runs),
:mod:`~speechbrain_wav2small.export.quantization`,
:mod:`~speechbrain_wav2small.export.static_quantization` and
:mod:`~speechbrain_wav2small.export.static_quantization_mobilenet` (the int8
model).

Authors
 * speechbrain-wav2small contributors 2026
"""

from speechbrain_wav2small.export.audonnx_files import write_audonnx_files
from speechbrain_wav2small.export.gates import (
    MAX_ABS_DIFF,
    MIN_CCC,
    PARITY_BATCH_SIZES,
    PARITY_MAX_PADDED_SECONDS,
    PARITY_SECONDS,
    ExportError,
    Int8GateError,
)
from speechbrain_wav2small.export.onnx_export import (
    INT8_NOT_REQUESTED,
    INT8_REFUSED,
    INT8_WRITTEN,
    export_onnx,
)
from speechbrain_wav2small.export.quantization import (
    DEFAULT_QUANTIZATION,
    QUANTIZATION_MODES,
)
from speechbrain_wav2small.export.wrappers import (
    BranchingWav2Small,
    OnnxStudent,
)
from speechbrain_wav2small.utils.model_files import FLOAT_FILE, INT8_FILE

__all__ = [
    "DEFAULT_QUANTIZATION",
    "FLOAT_FILE",
    "INT8_FILE",
    "INT8_NOT_REQUESTED",
    "INT8_REFUSED",
    "INT8_WRITTEN",
    "MAX_ABS_DIFF",
    "MIN_CCC",
    "PARITY_BATCH_SIZES",
    "PARITY_MAX_PADDED_SECONDS",
    "PARITY_SECONDS",
    "QUANTIZATION_MODES",
    "BranchingWav2Small",
    "ExportError",
    "Int8GateError",
    "OnnxStudent",
    "export_onnx",
    "write_audonnx_files",
]
