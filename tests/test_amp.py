"""Mixed precision in the training loop, exercised on the CPU (bf16 and fp16 autocast run there too).

The default on a CPU stays plain fp32: every lab's cpu numbers were measured that way.
"""
import pytest
import torch

import plmkit.train as train_module
from plmkit.data.brackets import BracketWorld
from plmkit.data.packing import OnlineStream
from plmkit.model import GPT, GPTConfig
from plmkit.train import TrainConfig, autocast_dtype, describe_precision, train

WORLD = BracketWorld()


def setup(seed=0, dropout=0.0, canon=""):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=6, context=32, n_layer=2, n_head=2, d_model=32, dropout=dropout, canon=canon))
    stream = OnlineStream(WORLD.sample_fn(), context=32, batch_size=8, sep_id=WORLD.bos_id, seed=seed)
    return model, stream


def quiet(**kw):
    return TrainConfig(**{"progress": False, "threads": 1, "device": "cpu", **kw})


class EdgyScaler(torch.amp.GradScaler):
    """A scaler that starts near fp16's overflow edge and grows every 2 steps, so its scale changes all
    the time (steps are skipped, the scale halves and doubles): its state then decides the result."""

    scales: list = []

    def __init__(self, device="cuda"):
        super().__init__(device, init_scale=2.0 ** 20, growth_interval=2)

    def update(self, *args, **kwargs):
        super().update(*args, **kwargs)
        EdgyScaler.scales.append(self.get_scale())


@pytest.fixture
def edgy_scaler(monkeypatch):
    EdgyScaler.scales = []
    monkeypatch.setattr(torch.amp, "GradScaler", EdgyScaler)
    return EdgyScaler


def test_the_default_on_cpu_is_plain_fp32_and_unchanged():
    assert autocast_dtype(torch.device("cpu")) is None and describe_precision("cpu") == "fp32"
    model, stream = setup()
    default = train(model, stream, quiet(steps=6, lr=3e-3))
    model, stream = setup()
    fp32 = train(model, stream, quiet(steps=6, lr=3e-3, precision="fp32"))
    assert default.loss == fp32.loss


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_cpu_autocast_runs_the_matmuls_in_half_precision(precision, dtype):
    model, stream = setup()
    seen = []
    model.lm_head.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    history = train(model, stream, quiet(steps=30, lr=3e-3, precision=precision))
    assert set(seen) == {dtype}
    model, stream = setup()
    fp32 = train(model, stream, quiet(steps=30, lr=3e-3))
    assert history.loss != fp32.loss  # really another precision
    assert abs(history.final_loss - fp32.final_loss) < 0.15  # but the same training
    assert history.final_loss < 0.85 * history.loss[0]


def test_auto_picks_bf16_only_where_the_gpu_has_it_natively(monkeypatch):
    # a T4 (compute capability 7.5) only emulates bf16, and torch.cuda.is_bf16_supported() says yes there
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    cuda = torch.device("cuda")
    assert autocast_dtype(cuda) == torch.float16 and describe_precision(cuda) == "fp16 autocast + grad scaler"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert autocast_dtype(cuda) == torch.bfloat16 and describe_precision(cuda) == "bf16 autocast"
    assert autocast_dtype(cuda, "fp16") == torch.float16 and autocast_dtype(cuda, "fp32") is None


def test_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="auto, fp32, bf16, fp16"):
        TrainConfig(steps=3, precision="half")
    with pytest.raises(ValueError, match="auto, fp32, bf16, fp16"):
        autocast_dtype(torch.device("cpu"), "amp")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_killed_amp_run_resumes_bit_for_bit(tmp_path, edgy_scaler, precision):
    config = dict(steps=16, lr=3e-3, warmup_steps=2, precision=precision)
    model, stream = setup(dropout=0.1, canon="AC")
    straight = train(model, stream, quiet(**config))
    scales = list(edgy_scaler.scales)
    if precision == "fp16":
        assert len(set(scales)) > 2  # the scale moved: skipped steps, halvings and growth

    ckpt = dict(checkpoint_every=4, checkpoint_dir=str(tmp_path / "ckpt"))
    model, stream = setup(dropout=0.1, canon="AC")
    train(model, stream, quiet(**config, **ckpt), stop_after=10)  # killed at 10; last checkpoint: step 8
    saved = torch.load(tmp_path / "ckpt" / "last.pt", weights_only=False)
    assert saved["step"] == 8 and saved["amp"] == precision
    if precision == "fp16":
        assert saved["scaler"]["scale"] == scales[7]  # the scale after step 8, not a fresh one
    else:
        assert saved["scaler"] is None

    model, stream = setup(dropout=0.1, canon="AC")
    torch.manual_seed(999)
    resumed = train(model, stream, quiet(**config, **ckpt))
    assert resumed.loss == straight.loss


def test_resuming_without_the_scaler_state_would_differ(tmp_path, edgy_scaler):
    # why the scaler's state is saved: restarting from a fresh scale changes which steps are skipped
    config = dict(steps=16, lr=3e-3, precision="fp16", checkpoint_every=4, checkpoint_dir=str(tmp_path))
    model, stream = setup()
    straight = train(model, stream, quiet(**{**config, "checkpoint_every": 0, "checkpoint_dir": None}))
    model, stream = setup()
    train(model, stream, quiet(**config), stop_after=8)
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    state["scaler"] = None
    torch.save(state, tmp_path / "last.pt")
    model, stream = setup()
    forgetful = train(model, stream, quiet(**config))
    assert forgetful.loss[:8] == straight.loss[:8] and forgetful.loss != straight.loss


def test_resuming_in_another_precision_warns(tmp_path, monkeypatch):
    config = quiet(steps=6, lr=3e-3, checkpoint_every=2, checkpoint_dir=str(tmp_path))
    model, stream = setup()
    train(model, stream, config, stop_after=4)
    # 'auto' on another device: an fp16 GPU resuming the CPU's fp32 checkpoint
    monkeypatch.setattr(train_module, "autocast_dtype", lambda device, precision="auto": torch.float16)
    model, stream = setup()
    with pytest.warns(UserWarning, match="trained in fp32 and resumes in fp16"):
        history = train(model, stream, config)
    assert history.steps == 6
