"""What a trained-model folder holds: the contract between its writers
(export, packaging) and its readers (both inference interfaces, the CLI).

Torch-free, so that the ONNX interface can import it.

Authors
 * speechbrain-wav2small contributors 2026
"""

#: ONNX files of an export: float32, and int8.
FLOAT_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"

#: The ONNX files looked for in a folder, in order of preference.
ONNX_FILES = (INT8_FILE, FLOAT_FILE)

#: Inputs of every exported graph: ``wavs`` float32 [batch, time] (mono at
#: the model's sample rate) and ``wav_lens`` float32 [batch] (relative
#: lengths in (0, 1], SpeechBrain's convention).
WAVS_INPUT = "wavs"
LENGTHS_INPUT = "wav_lens"
INPUT_NAMES = (WAVS_INPUT, LENGTHS_INPUT)

#: Output of every exported graph: float32 [batch, 3] in the order of
#: :data:`speechbrain_wav2small.DIMENSIONS`.
OUTPUT_NAME = "scores"

#: Metadata key of the onnxruntime session settings a file needs (JSON).
SESSION_CONFIG_KEY = "onnxruntime_session_config"

#: What an int8 file with float arithmetic (``quantization="weights"``)
#: asks for: it keeps its weights as int8 + DequantizeLinear, a pattern
#: onnxruntime leaves in place for its quantised kernels unless told
#: otherwise, and its convolutions then miss the fast blocked-layout float
#: kernels (about twice the time). With QDQ handling off, the weights are
#: dequantised once at load time. Statically quantised files must not get
#: it (they need the QDQ fusion), so it is stored per file.
WEIGHTS_ONLY_CONFIG = {"session.disable_quant_qdq": "1"}

#: Files for audEERING's ``audonnx`` (written by
#: :func:`speechbrain_wav2small.export.audonnx_files.write_audonnx_files`).
#: audonnx reshapes its input to the declared shape, which needs one dynamic
#: axis, so each of our files gets a single-clip copy of its graph
#: (``wavs`` [1, time] only) and the YAML that ``audonnx.load(folder,
#: model_file=...)`` reads for it: ONNX file -> (single-clip graph, YAML).
AUDONNX_FILES = {
    FLOAT_FILE: ("audonnx.onnx", "audonnx.yaml"),
    INT8_FILE: ("audonnx.int8.onnx", "audonnx.int8.yaml"),
}
#: The YAML ``audonnx.load(folder)`` reads by default: it describes the
#: same file as the first of :data:`ONNX_FILES` in the folder.
AUDONNX_DEFAULT_YAML = "model.yaml"

#: Files of a packaged model (a SpeechBrain pretrained-model folder).
HPARAMS_FILE = "hyperparams.yaml"
CHECKPOINT_FILE = "model.ckpt"
EXPORT_REPORT_FILE = "export.json"
CARD_FILE = "README.md"

#: Second output of an exported graph (after :data:`OUTPUT_NAME`, which
#: stays the first): float32 [batch, F], the student's embeddings, i.e.
#: the pooled features its head reads (338 for Wav2Small, 1024 or 1280
#: for the MobileNets). Files exported before it was added lack it.
EMBEDDINGS_OUTPUT = "embeddings"

#: Name of feature ``i`` of the embeddings wherever they are laid out as
#: named columns (``wav2small predict --embeddings``, the audonnx labels).
EMBEDDING_NAME = "embedding_{}"


def embedding_names(size):
    """The names of ``size`` embedding features, in order.

    Example
    -------
    >>> embedding_names(3)
    ['embedding_0', 'embedding_1', 'embedding_2']
    """
    return [EMBEDDING_NAME.format(index) for index in range(size)]


#: A package's manifest: the SHA-256 and size of each of its other files,
#: in ``sha256sum`` format (``sha256sum -c checksums.sha256`` checks it),
#: written last; see :mod:`speechbrain_wav2small.packaging.checksums`.
CHECKSUMS_FILE = "checksums.sha256"
