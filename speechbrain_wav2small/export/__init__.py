"""ONNX export of a student: a float model and an int8 model, both checked.

:func:`export_onnx` (:mod:`~speechbrain_wav2small.export.onnx_export`)
writes ``model.onnx`` and ``model.int8.onnx`` once both have passed their
gates (:mod:`~speechbrain_wav2small.export.gates`). The pieces:
:mod:`~speechbrain_wav2small.export.wrappers` (the exported modules),
:mod:`~speechbrain_wav2small.export.tracing` (PyTorch to a finished ONNX
model), :mod:`~speechbrain_wav2small.export.graph` (graph surgery),
:mod:`~speechbrain_wav2small.export.quantization` and
:mod:`~speechbrain_wav2small.export.static_quantization` (the int8 model).

Authors
 * speechbrain-wav2small contributors 2026
"""

from speechbrain_wav2small.export.gates import (
    MAX_ABS_DIFF,
    MIN_CCC,
    PARITY_BATCH_SIZES,
    PARITY_SECONDS,
    ExportError,
)
from speechbrain_wav2small.export.onnx_export import export_onnx
from speechbrain_wav2small.export.quantization import QUANTIZATION_MODES
from speechbrain_wav2small.export.wrappers import (
    BranchingWav2Small,
    OnnxStudent,
)
from speechbrain_wav2small.utils.model_files import FLOAT_FILE, INT8_FILE

__all__ = [
    "FLOAT_FILE",
    "INT8_FILE",
    "MAX_ABS_DIFF",
    "MIN_CCC",
    "PARITY_BATCH_SIZES",
    "PARITY_SECONDS",
    "QUANTIZATION_MODES",
    "BranchingWav2Small",
    "ExportError",
    "OnnxStudent",
    "export_onnx",
]
