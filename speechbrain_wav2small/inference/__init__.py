"""Inference interfaces for trained students.

* :class:`~speechbrain_wav2small.inference.emotion.EmotionDimensions`: a
  SpeechBrain ``Pretrained`` interface (PyTorch);
* :class:`~speechbrain_wav2small.inference.onnx_emotion.OnnxEmotionDimensions`:
  the same API on an exported ONNX file, without torch;
* :class:`~speechbrain_wav2small.inference.streaming.StreamingWav2Small`:
  Wav2Small over audio of any length in constant memory.

The names are loaded on first use, so that the torch-free interface can be
imported on a machine without torch.
"""

import importlib

_HOMES = {
    "EmotionDimensions": "emotion",
    "OnnxEmotionDimensions": "onnx_emotion",
    "StreamingWav2Small": "streaming",
}

__all__ = list(_HOMES)


def __getattr__(name):
    """Imports the submodule defining ``name`` when it is first asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOMES[name]}")
    return getattr(module, name)
