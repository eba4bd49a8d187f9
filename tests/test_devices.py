"""Device safety without a GPU: nothing builds tensors on the wrong device.

On a GPU, a tensor created without ``device=`` lands on the CPU and the
first operation that meets it and a CUDA tensor fails. These tests catch
that class of bug on a CPU-only machine with three techniques:

* **meta device + device check** (students, front end, CCC loss): the model
  and its inputs are moved to ``meta``, where shapes propagate without data,
  and every aten operation runs under :class:`DeviceCheckMode`, which fails
  when one operation receives tensors on two devices. The dispatch mode is
  needed because meta kernels do not check devices themselves: a meta input
  convolved with a CPU weight, a meta matrix times a CPU one or an
  ``index_add`` with a CPU index all "succeed" on meta, yet fail on CUDA.
  The forward runs in train and eval mode, padded and unpadded, and the
  CCC loss's backward runs too.
* **explicit factories** (teachers, CCC metric): a teacher's forward is
  data-dependent (sample counts become Python ints to cut windows,
  ``nonzero`` finds too-short clips, transformers calls ``.item()`` on the
  attention mask), and meta tensors have no data, so teachers run on real
  CPU tensors under :class:`ExplicitDeviceMode`, a ``TorchFunctionMode``
  that fails when package code calls a tensor factory (``torch.zeros``,
  ``torch.arange``, ``torch.tensor`` of a list...) without ``device=``:
  such a call is the only way to create a tensor that does not follow its
  inputs. The data-independent rest (backbone on unpadded input, pooling,
  heads) also runs on meta under the device check.
* **every tensor moves** (all models): after ``.to("meta")`` no tensor is
  left in a module's attributes outside its parameters and buffers.

The labeller is checked with a spy teacher on ``meta`` (see
:func:`test_labeller_moves_the_batch_to_the_teacher_device`). The last
tests prove that each checker catches the bug it is meant to catch.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import speechbrain_wav2small
from speechbrain_wav2small.labelling import PseudoLabeller, folder_items
from speechbrain_wav2small.labelling.cache import cache_paths
from speechbrain_wav2small.lobes.fast_wav2small import FastWav2Small
from speechbrain_wav2small.lobes.frontend import LogMelFrontEnd
from speechbrain_wav2small.lobes.teachers import EnsembleTeacher
from speechbrain_wav2small.objectives import CCCLoss, ccc
from speechbrain_wav2small.students import STUDENTS, build_student
from speechbrain_wav2small.teachers import build_teacher, tiny_teacher_config

META = torch.device("meta")
PACKAGE = str(Path(speechbrain_wav2small.__file__).parent)

#: Operations whose purpose is to move data between devices.
_COPIES = {
    torch.ops.aten._to_copy.default,
    torch.ops.aten.copy_.default,
    torch.ops.aten._copy_from.default,
    torch.ops.aten._copy_from_and_resize.default,
}

#: Tensor factories that create a tensor from nothing but their arguments:
#: without ``device=`` they land on the default device, whatever the model.
_FACTORIES = {
    torch.arange,
    torch.empty,
    torch.eye,
    torch.full,
    torch.linspace,
    torch.logspace,
    torch.ones,
    torch.rand,
    torch.randint,
    torch.randn,
    torch.randperm,
    torch.scalar_tensor,
    torch.zeros,
}
#: Factories that copy their first argument, unless it already is a tensor.
_CONVERTERS = {torch.tensor, torch.as_tensor}


class DeviceCheckMode(TorchDispatchMode):
    """Fails when one aten operation gets tensors on two devices.

    0-dim CPU tensors are exempt (CUDA kernels accept them as scalars), as
    are the copies that move data between devices on purpose.

    Example
    -------
    >>> with DeviceCheckMode():
    ...     torch.zeros(2, device="meta") + torch.zeros(2)
    Traceback (most recent call last):
     ...
    AssertionError: aten.add.Tensor mixes devices ['cpu', 'meta']
    """

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        """Checks the devices of the tensor arguments, then runs ``func``."""
        kwargs = kwargs or {}
        if func not in _COPIES:
            devices = {
                str(value.device)
                for value in tree_flatten((args, kwargs))[0]
                if isinstance(value, torch.Tensor)
                and not (value.device.type == "cpu" and value.dim() == 0)
            }
            if len(devices) > 1:
                # Raised, not asserted: pytest rewrites asserts in test
                # modules and would append its own lines to the message.
                raise AssertionError(f"{func} mixes devices {sorted(devices)}")
        return func(*args, **kwargs)


class ExplicitDeviceMode(TorchFunctionMode):
    """Fails when package code calls a tensor factory without ``device=``.

    ``device=None`` counts as missing: a helper that forwards its own
    ``device`` argument must have been given one.

    Only calls made directly from files of ``speechbrain_wav2small`` count:
    third-party code (transformers, timm) is its maintainers' business.

    Example
    -------
    >>> def build():
    ...     return torch.zeros(3)
    >>> build.__code__ = build.__code__.replace(
    ...     co_filename=PACKAGE + "/fake.py")
    >>> with ExplicitDeviceMode():
    ...     build()
    Traceback (most recent call last):
     ...
    AssertionError: torch.zeros called without device= at .../fake.py:2
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        """Checks factory calls from package code, then runs ``func``."""
        kwargs = kwargs or {}
        converts_data = func in _CONVERTERS and not (
            args and isinstance(args[0], torch.Tensor)
        )
        factory = func in _FACTORIES or converts_data
        if factory and kwargs.get("device") is None:
            caller = sys._getframe(1)
            where = caller.f_code.co_filename
            if where.startswith(PACKAGE):
                raise AssertionError(
                    f"torch.{func.__name__} called without device= at "
                    f"{where}:{caller.f_lineno}"
                )
        return func(*args, **kwargs)


def stray_tensors(module):
    """``(module name, attribute)`` of tensors that ``.to()`` would miss.

    Plain tensor attributes (not parameters, not buffers), alone or inside
    a list, tuple or dict, stay where they were created when the module
    moves.

    Example
    -------
    >>> class Stray(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = torch.ones(3)
    >>> stray_tensors(Stray())
    [('', 'scale')]
    """
    found = []
    for name, submodule in module.named_modules():
        owned = set(submodule._parameters) | set(submodule._buffers)
        for attribute, value in vars(submodule).items():
            if attribute in owned or attribute.startswith("_"):
                continue
            values = value
            if isinstance(value, dict):
                values = list(value.values())
            elif not isinstance(value, (list, tuple)):
                values = [value]
            if any(isinstance(item, torch.Tensor) for item in values):
                found.append((name, attribute))
    return found


def _meta_batch(batch=2, samples=16000):
    """Waveforms, relative lengths and targets on the meta device."""
    wavs = torch.empty(batch, samples, device=META)
    lengths = torch.tensor([1.0, 0.55], device=META)[:batch]
    return wavs, lengths, torch.empty(batch, 3, device=META)


def _students():
    """Every student preset and the inference form of Wav2Small."""
    models = {name: build_student(name) for name in STUDENTS}
    models["fast_wav2small"] = FastWav2Small(build_student("wav2small").eval())
    return models


def _teacher(kind):
    """A tiny random-weight teacher of ``kind`` (``"ensemble"`` too)."""
    if kind == "ensemble":
        members = [
            build_teacher("dawn", seed=1),
            build_teacher("wavlm_odyssey"),
        ]
        return EnsembleTeacher(members, weights=[2, 1])
    return build_teacher(kind, seed=0)


@pytest.fixture(scope="module")
def students():
    """The students, built once."""
    return _students()


@pytest.mark.parametrize("name", [*STUDENTS, "fast_wav2small"])
def test_student_runs_on_meta_without_mixing_devices(students, name):
    model = students[name].to(META)
    wavs, lengths, targets = _meta_batch()
    loss_fn = CCCLoss(weights=[1.0, 1.0, 2.0])
    with DeviceCheckMode(), ExplicitDeviceMode():
        model.eval()
        for batch_lengths in (None, lengths):
            with torch.no_grad():
                assert model(wavs, batch_lengths).device == META
        if name != "fast_wav2small":  # inference only
            model.train()
            for batch_lengths in (None, lengths):
                loss = loss_fn(model(wavs, batch_lengths), targets)
                loss.backward()
                assert loss.device == META
    assert all(
        p.grad is None or p.grad.device == META for p in model.parameters()
    )


def test_front_end_on_meta_shorter_than_a_window():
    front_end = LogMelFrontEnd().to(META)
    wavs = torch.empty(2, 40, device=META)
    with DeviceCheckMode(), ExplicitDeviceMode():
        features, frames = front_end(wavs, torch.ones(2, device=META))
    assert features.device == frames.device == META


def test_ccc_loss_and_metric_keep_to_their_inputs_device():
    predictions = torch.empty(8, 3, device=META, requires_grad=True)
    targets = torch.empty(8, 3, device=META)
    with DeviceCheckMode():
        loss = CCCLoss(weights=[1.0, 2.0, 1.0])(predictions, targets)
        loss.backward()
    assert loss.device == predictions.grad.device == META
    # The metric branches on its data (NaN where undefined): real tensors,
    # explicit factories.
    with ExplicitDeviceMode(), pytest.warns(RuntimeWarning):
        ccc(torch.rand(1, 3), torch.rand(1, 3))
    with ExplicitDeviceMode(), pytest.warns(RuntimeWarning):
        ccc(torch.ones(4, 3), torch.ones(4, 3))


@pytest.mark.parametrize("kind", ["dawn", "wavlm_odyssey", "ensemble"])
def test_teacher_factories_name_their_device(kind):
    teacher = _teacher(kind)
    long_clip = torch.randn(1, 40000)
    padded = torch.randn(3, 12000)
    lengths = torch.tensor([1.0, 0.5, 0.04])
    with ExplicitDeviceMode(), torch.no_grad():
        assert teacher(padded, lengths).shape == (3, 3)
        assert teacher(padded).shape == (3, 3)
        # Windowing: 2.5 s cut into three windows of 1 s at most.
        for member in getattr(teacher, "members", [teacher]):
            member.max_window_seconds = 1.0
        assert teacher(long_clip).shape == (1, 3)


def test_group_norm_teacher_factories_name_their_device():
    # A group-normalised feature extractor runs clip by clip and pads the
    # hidden states itself: another code path that builds tensors.
    config = tiny_teacher_config("dawn", feat_extract_norm="group")
    teacher = build_teacher("dawn", config=config, seed=0)
    with ExplicitDeviceMode(), torch.no_grad():
        out = teacher(torch.randn(2, 8000), torch.tensor([1.0, 0.6]))
    assert out.shape == (2, 3)


@pytest.mark.parametrize("kind", ["dawn", "wavlm_odyssey"])
def test_teacher_backbone_and_head_on_meta(kind):
    teacher = build_teacher(kind, seed=0).to(META)
    wavs = torch.empty(2, 16000, device=META)
    frame_mask = torch.ones(2, 49, dtype=torch.bool, device=META)
    with DeviceCheckMode(), torch.no_grad():
        hidden = teacher.backbone(wavs).last_hidden_state
        if kind == "dawn":
            out = teacher.classifier(hidden.mean(dim=1))
        else:
            out = teacher.ser_model(teacher.pool_model(hidden, frame_mask))
    assert out.device == META and out.shape == (2, 3)


def test_every_tensor_moves_with_its_module(students):
    models = dict(students, ensemble=_teacher("ensemble"))
    for name, model in models.items():
        assert stray_tensors(model.to(META)) == [], name
        assert all(t.device == META for t in model.state_dict().values())


class SpyTeacher(nn.Module):
    """Records where its inputs are; answers with fixed labels on the CPU.

    Its only tensor is a non-persistent buffer, so it moves with ``.to()``
    while the fingerprint (which copies the state dict to the CPU) stays
    computable on ``meta``.
    """

    min_samples = 1
    max_window_seconds = None

    def __init__(self):
        super().__init__()
        self.register_buffer("anchor", torch.zeros(1), persistent=False)
        self.calls = []

    def inference_config(self):
        """Nothing configurable."""
        return {"teacher": "SpyTeacher"}

    def forward(self, wavs, lengths):
        """Records the inputs' devices and dtypes."""
        self.calls.append(
            (wavs.device, lengths.device, self.anchor.device, wavs.dtype)
        )
        return torch.full((wavs.shape[0], 3), 0.25)


def test_labeller_moves_the_batch_to_the_teacher_device(tmp_path):
    """The labeller moves the teacher, then every batch, to ``device``.

    A spy teacher built on the CPU is handed to the labeller with
    ``device="meta"``: the labeller must move it there and feed it
    batches already on ``meta`` (the spy records the devices it saw). The
    whole run happens under :class:`DeviceCheckMode`, so no operation of
    the labeller (reading, padding, counting samples) mixes the batch on
    the CPU with anything on ``meta``. The spy answers on the CPU because
    a meta tensor has no values to write.
    """
    for index in range(3):
        clip = np.sin(np.arange(8000 + 1000 * index) / (3.0 + index)) * 0.1
        sf.write(tmp_path / f"clip{index}.wav", clip, 16000)
    spy = SpyTeacher()
    labeller = PseudoLabeller(spy, device="meta", progress=False)
    out = tmp_path / "labels.csv"
    with DeviceCheckMode():
        summary = labeller.label(folder_items(tmp_path), out)
    assert summary["labelled"] == 3 and summary["errors"] == 0
    assert spy.anchor.device == META
    assert spy.calls and all(
        call == (META, META, META, torch.float32) for call in spy.calls
    )
    lines = cache_paths(out)["labels"].read_text().splitlines()
    assert lines[1].endswith(",0.25,0.25,0.25")


# ---------------------------------------------------------------------------
# The checkers catch what they are meant to catch.


class _CpuFactoryInForward(nn.Module):
    """A module with the bug: a mask built without ``device=``."""

    def forward(self, x):
        """Multiplies by a mask created on the default device."""
        return x * torch.ones(x.shape[-1])


class _CpuWeightInConv(nn.Module):
    """A module with the bug meta kernels miss: a CPU conv weight."""

    def forward(self, x):
        """Convolves with a kernel created on the default device."""
        return nn.functional.conv1d(x, torch.ones(1, 1, 3))


def test_device_check_catches_what_meta_kernels_miss():
    x = torch.empty(2, 1, 16, device=META)
    _CpuWeightInConv()(x)  # the meta kernel alone says nothing
    for module in (_CpuWeightInConv(), _CpuFactoryInForward()):
        with DeviceCheckMode(), pytest.raises(AssertionError, match="mixes"):
            module(x)


def test_explicit_device_mode_catches_a_package_factory(monkeypatch):
    import speechbrain_wav2small.functional as functional

    original = functional.length_mask

    def careless_length_mask(counts, max_len):
        """``length_mask`` with its device forgotten."""
        return torch.arange(max_len).unsqueeze(0) < counts.unsqueeze(1)

    careless_length_mask.__code__ = careless_length_mask.__code__.replace(
        co_filename=original.__code__.co_filename
    )
    monkeypatch.setattr(
        "speechbrain_wav2small.lobes.teachers.length_mask",
        careless_length_mask,
    )
    teacher = build_teacher("wavlm_odyssey", seed=0)
    with ExplicitDeviceMode(), pytest.raises(AssertionError, match="arange"):
        teacher(torch.randn(2, 8000), torch.tensor([1.0, 0.5]))
