"""Files that audEERING's ``audonnx`` runs, next to an export's own.

``audonnx.Model`` reshapes the signal it is given to the shape its graph
declares for the input, which works only with one dynamic axis and one
input. Our graphs (``model.onnx``, ``model.int8.onnx``) take a batch:
``wavs`` [batch, time] and ``wav_lens`` [batch]. :func:`write_audonnx_files`
therefore writes, for each of them, a single-clip copy of the graph and the
YAML that ``audonnx.load`` reads (names in
:data:`~speechbrain_wav2small.utils.model_files.AUDONNX_FILES`):

* ``audonnx.onnx`` / ``audonnx.int8.onnx``: the same graph with ``wavs``
  [1, time] as its only input; ``wav_lens`` becomes a constant 1.0 (the
  whole clip), outputs ``scores`` [1, 3] and ``embeddings`` [1, F] (the
  pooled features the head reads; files exported before embeddings were
  added have ``scores`` only). Nothing else changes, so the numbers are
  those of the batched graph on one unpadded clip;
* ``audonnx.yaml`` / ``audonnx.int8.yaml``: the ``audonnx.Model`` of that
  graph, as ``Model.to_yaml(path, include_version=False)`` writes it
  (without a version, so any audonnx release loads it without a warning):
  ``path``, ``labels`` naming every output's features (``scores``:
  ``[arousal, dominance, valence]``; ``embeddings``: ``[embedding_0,
  ...]``, the column names of ``wav2small predict --embeddings``) and a
  ``transform``, an ``audonnx.Function``. With two outputs audonnx
  returns a dict, ``{"scores": [[a, d, v]], "embeddings": [[...]]}``;
  ``model(signal, rate, outputs="scores")`` gives the scores alone, as
  the authors' published models are asked for ``logits`` or
  ``hidden_states``;
* ``model.yaml``, the file ``audonnx.load(folder)`` reads by default: the
  YAML of the file that
  :class:`~speechbrain_wav2small.inference.onnx_emotion.OnnxEmotionDimensions`
  takes from the folder (the int8 one when there is one).

audonnx itself neither mixes down nor resamples: without a transform it
reshapes whatever it is given (a stereo [2, time] signal would become one
clip of both channels end to end) and ignores the sampling rate. The
transform written here does what our own file reading does
(:func:`speechbrain_wav2small.dataio.audio.read_audio`): it averages the
channels of a [channels, time] signal (audEERING's layout, as
``audiofile.read`` returns it) and resamples to the model's rate with a
copy of :func:`speechbrain_wav2small.dataio.audio.resample`, so
``model(signal, sampling_rate)`` gives the numbers ``predict_file`` gives
for the same audio, at any rate and channel count. Without a sampling rate
the signal is taken to be at the model's rate (16 kHz). The transform is
Python source stored in the YAML, which audonnx (through ``audobject``)
runs when it loads the file; it imports numpy and the standard library
only.

Authors
 * speechbrain-wav2small contributors 2026
"""

import inspect
import json
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import yaml
from onnx import numpy_helper

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import read_audio, resample
from speechbrain_wav2small.dataio.reference_speech import (
    reference_speech_files,
)
from speechbrain_wav2small.inference.onnx_emotion import load_session
from speechbrain_wav2small.utils.durable import atomic_write_files
from speechbrain_wav2small.utils.model_files import (
    AUDONNX_DEFAULT_YAML,
    AUDONNX_FILES,
    EMBEDDINGS_OUTPUT,
    LENGTHS_INPUT,
    ONNX_FILES,
    OUTPUT_NAME,
    WAVS_INPUT,
    embedding_names,
)

#: Class keys of the YAML, as audobject writes them without a version.
MODEL_CLASS = "$audonnx.core.model.Model"
FUNCTION_CLASS = "$audonnx.core.function.Function"

#: Largest difference tolerated between a single-clip graph (run with
#: onnxruntime's default settings, as audonnx runs it) and the graph it
#: was derived from, on one recording shipped with the package.
MAX_ABS_DIFF = 1e-5

# The transform, stored as source in the YAML. audobject runs that source
# in a namespace of its own and keeps its first definition only, so the
# resampler has to be defined inside the function; the placeholder line
# receives its source, so that the two can never drift apart.
_RESAMPLER = "    # (resampler)\n"
_TRANSFORM_SOURCE = f'''\
def wav2small_input(signal, sampling_rate=None, *, model_rate):
    """The model's input: ``signal`` as mono float32 [1, time] at
    ``model_rate`` Hz.

    ``signal`` is [time] or [channels, time] (as audiofile reads it);
    channels are averaged. A ``sampling_rate`` other than ``model_rate``
    is resampled exactly as speechbrain-wav2small reads files; without
    one, the signal is taken to be at ``model_rate`` already.
    """
    import math
    from fractions import Fraction

    import numpy as np

{_RESAMPLER}
    samples = np.asarray(signal, dtype=np.float32)
    if samples.ndim == 2 and samples.shape[0] <= samples.shape[1]:
        samples = samples.mean(axis=0)
    if samples.ndim != 1:
        raise ValueError(
            "expected a signal [time] or [channels, time], got shape "
            + str(samples.shape)
        )
    rate = model_rate if sampling_rate is None else int(sampling_rate)
    return resample(samples, rate, model_rate)[None]
'''


def write_audonnx_files(folder):
    """Writes the files audonnx loads next to a folder's ONNX files.

    For each of ``model.onnx`` and ``model.int8.onnx`` in ``folder``: a
    single-clip copy of its graph and its ``audonnx.Model`` YAML, plus
    ``model.yaml``, what ``audonnx.load(folder)`` reads (see the module
    docstring). Each copy is checked against its original on a shipped
    recording before anything is written; the files are then written all
    or none, replacing earlier ones (those of an ONNX file no longer in
    the folder are removed). The folder's own files are not touched.

    Arguments
    ---------
    folder : str or os.PathLike
        An export or package folder.

    Returns
    -------
    dict
        File name -> path of each file written.

    Raises
    ------
    FileNotFoundError
        The folder holds none of our ONNX files.
    RuntimeError
        A single-clip graph predicts differently from its original.

    Example
    -------
    A stand-in for an export (scores = lengths times fixed weights plus the
    mean sample):

    >>> import tempfile
    >>> from onnx import TensorProto, helper
    >>> def tensor(name, *shape):
    ...     return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    >>> nodes = [
    ...     helper.make_node("Unsqueeze", ["wav_lens", "axis"], ["lens"]),
    ...     helper.make_node("Mul", ["lens", "weights"], ["scaled"]),
    ...     helper.make_node("ReduceMean", ["wavs", "axis"], ["mean"]),
    ...     helper.make_node("Add", ["scaled", "mean"], ["scores"]),
    ... ]
    >>> constants = [
    ...     helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
    ...     helper.make_tensor("weights", TensorProto.FLOAT, [1, 3], [.2, .5, .8]),
    ... ]
    >>> graph = helper.make_graph(
    ...     nodes, "stand-in",
    ...     [tensor("wavs", "batch", "time"), tensor("wav_lens", "batch")],
    ...     [tensor("scores", "batch", 3)], constants)
    >>> folder = tempfile.mkdtemp()
    >>> onnx.save(helper.make_model(
    ...     graph, ir_version=9, opset_imports=[helper.make_opsetid("", 18)]
    ... ), f"{folder}/model.onnx")
    >>> sorted(write_audonnx_files(folder))
    ['audonnx.onnx', 'audonnx.yaml', 'model.yaml']
    >>> print(*open(f"{folder}/model.yaml").read().splitlines()[:8], sep="\\n")
    $audonnx.core.model.Model:
      path: audonnx.onnx
      labels:
        scores:
        - arousal
        - dominance
        - valence
      transform:
    >>> single = onnx.load(f"{folder}/audonnx.onnx").graph
    >>> [i.name for i in single.input]
    ['wavs']

    audonnx then runs the folder (``signal`` [channels, time] at any
    rate)::

        model = audonnx.load(folder)  # or model_file="audonnx.yaml"
        model(signal, 44100)  # {"scores": [[a, d, v]], "embeddings": ...}
        model(signal, 44100, outputs="scores")  # [[a, d, v]]
    """
    folder = Path(folder)
    sources = [name for name in ONNX_FILES if (folder / name).is_file()]
    if not sources:
        raise FileNotFoundError(
            f"no {' or '.join(ONNX_FILES)} in folder {folder}"
        )
    contents = {}
    for name in sources:
        graph_name, yaml_name = AUDONNX_FILES[name]
        original = (folder / name).read_bytes()
        model = _single_clip_model(onnx.load_from_string(original))
        data = model.SerializeToString()
        _check_single_clip(original, data, folder / name)
        metadata = {p.key: p.value for p in model.metadata_props}
        text = _model_yaml(
            graph_name,
            int(metadata.get("sample_rate", SAMPLE_RATE)),
            _labels(model, metadata, folder / name),
        )
        contents[folder / graph_name] = data
        contents[folder / yaml_name] = text
        if name == sources[0]:
            contents[folder / AUDONNX_DEFAULT_YAML] = text
    atomic_write_files(contents)
    # A file left from an earlier export whose source is gone (an export
    # written without its int8 model) would no longer match the folder.
    for name, twins in AUDONNX_FILES.items():
        if name not in sources:
            for twin in twins:
                (folder / twin).unlink(missing_ok=True)
    return {path.name: str(path) for path in contents}


def _single_clip_model(model):
    """The single-clip form of one of our graphs (changed in place).

    ``wav_lens`` leaves the inputs and becomes a constant 1.0 (relative
    length of the whole clip), the batch axis of ``wavs`` and of every
    output becomes 1; ``time`` stays dynamic. A graph without ``wav_lens``
    only gets the batch axis fixed.

    Arguments
    ---------
    model : onnx.ModelProto
        A graph written by :func:`speechbrain_wav2small.export.export_onnx`.

    Returns
    -------
    onnx.ModelProto
        The same object, checked.

    Raises
    ------
    ValueError
        The graph does not have our input and output names.
    """
    graph = model.graph
    inputs = {value.name: value for value in graph.input}
    outputs = [value.name for value in graph.output]
    if WAVS_INPUT not in inputs or outputs not in (
        [OUTPUT_NAME],
        [OUTPUT_NAME, EMBEDDINGS_OUTPUT],
    ):
        raise ValueError(
            f"expected inputs '{WAVS_INPUT}' (and '{LENGTHS_INPUT}') and "
            f"outputs '{OUTPUT_NAME}' (and '{EMBEDDINGS_OUTPUT}'), as "
            f"written by wav2small export; got {list(inputs)} -> {outputs}"
        )
    if LENGTHS_INPUT in inputs:
        graph.input.remove(inputs[LENGTHS_INPUT])
        graph.initializer.append(
            numpy_helper.from_array(np.ones(1, np.float32), LENGTHS_INPUT)
        )
    for value in (inputs[WAVS_INPUT], *graph.output):
        batch = value.type.tensor_type.shape.dim[0]
        batch.Clear()
        batch.dim_value = 1
    _set_metadata(
        model,
        "inputs",
        f"{WAVS_INPUT}: float32 [1, time], one clip, mono at sample_rate "
        f"({LENGTHS_INPUT} fixed to 1.0, the whole clip)",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _model_yaml(graph_name, sample_rate=SAMPLE_RATE, labels=None):
    """The ``audonnx.Model`` YAML of a single-clip graph.

    What ``audonnx.Model(path, labels=..., transform=...).to_yaml(...,
    include_version=False)`` writes, with the transform's source as a
    block of lines rather than one escaped string, so that it can be read
    before it is run.

    Arguments
    ---------
    graph_name : str
        File name of the graph, relative to the YAML.
    sample_rate : int
        The model's rate in Hz (the transform resamples to it).
    labels : dict, optional
        Output name -> names of its features (default: the scores'
        ``{"scores": DIMENSIONS}``).

    Returns
    -------
    str

    Example
    -------
    >>> text = _model_yaml("audonnx.onnx")
    >>> text.splitlines()[:2]
    ['$audonnx.core.model.Model:', '  path: audonnx.onnx']
    >>> yaml.safe_load(text)[MODEL_CLASS]["labels"]
    {'scores': ['arousal', 'dominance', 'valence']}
    """
    if labels is None:
        labels = {OUTPUT_NAME: list(DIMENSIONS)}
    content = {
        MODEL_CLASS: {
            "path": graph_name,
            "labels": {name: list(names) for name, names in labels.items()},
            "transform": {
                FUNCTION_CLASS: {
                    "func": _transform_source(),
                    "func_args": {"model_rate": int(sample_rate)},
                }
            },
        }
    }
    return yaml.dump(
        content, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False
    )


def _transform_source():
    """Python source of the audonnx transform (see the module docstring).

    Example
    -------
    >>> namespace = {}
    >>> exec(_transform_source(), {}, namespace)
    >>> to_input = namespace["wav2small_input"]
    >>> stereo = np.ones((2, 44100), dtype=np.float32)
    >>> to_input(stereo, 44100, model_rate=16000).shape
    (1, 16000)
    """
    resampler = textwrap.indent(inspect.getsource(resample), "    ")
    return _TRANSFORM_SOURCE.replace(_RESAMPLER, resampler)


class _BlockDumper(yaml.SafeDumper):
    """A YAML dumper writing multi-line strings as literal blocks."""


def _represent_text(dumper, text):
    """Multi-line strings as ``|`` blocks, others as PyYAML chooses."""
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _represent_text)


def _labels(model, metadata, path):
    """Output name -> feature names of a single-clip graph: the scores'
    names stored in its metadata (they must be ours), and the embeddings'
    (:func:`~speechbrain_wav2small.utils.model_files.embedding_names`)
    when it has them."""
    names = metadata.get("output_names")
    dimensions = tuple(json.loads(names)) if names else DIMENSIONS
    if dimensions != DIMENSIONS:
        raise ValueError(
            f"{path} outputs {list(dimensions)}, expected {list(DIMENSIONS)}"
        )
    labels = {OUTPUT_NAME: list(dimensions)}
    for value in model.graph.output:
        if value.name == EMBEDDINGS_OUTPUT:
            size = value.type.tensor_type.shape.dim[-1].dim_value
            if not size:
                raise ValueError(
                    f"{path}: the size of its '{EMBEDDINGS_OUTPUT}' output "
                    "is not fixed in the graph"
                )
            labels[EMBEDDINGS_OUTPUT] = embedding_names(size)
    return labels


def _set_metadata(model, key, value):
    """Sets (or adds) one ``metadata_props`` entry of ``model``."""
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
            return
    model.metadata_props.add(key=key, value=value)


def _check_single_clip(original, single, path):
    """Compares a single-clip graph, run as audonnx runs it (onnxruntime
    defaults, one thread), with its original run as our interface runs it,
    on a shipped recording, output by output; raises ``RuntimeError`` past
    :data:`MAX_ABS_DIFF` (for the embeddings, relative to their largest
    magnitude, at least 1)."""
    clip = read_audio(reference_speech_files()[0])[None]
    reference = load_session(original)
    feeds = {WAVS_INPUT: clip, LENGTHS_INPUT: np.ones(1, np.float32)}
    names = [value.name for value in reference.get_inputs()]
    expected = reference.run(None, {name: feeds[name] for name in names})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        single, options, providers=["CPUExecutionProvider"]
    )
    got = session.run(None, {WAVS_INPUT: clip})
    outputs = [value.name for value in session.get_outputs()]
    for name, value, reference_value in zip(
        outputs, got, expected, strict=True
    ):
        scale = 1.0
        if name == EMBEDDINGS_OUTPUT:
            scale = max(1.0, float(np.abs(reference_value).max()))
        difference = float(np.abs(value - reference_value).max()) / scale
        if not difference <= MAX_ABS_DIFF:
            raise RuntimeError(
                f"the single-clip graph of {path} predicts differently from "
                f"it ({name}: max abs diff {difference * scale:.3g})"
            )
