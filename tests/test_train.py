import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from plmkit.data.brackets import BracketWorld
from plmkit.data.packing import OnlineStream
from plmkit.model import GPT, GPTConfig
from plmkit.train import History, TrainConfig, load_model, lr_at, param_groups, train

WORLD = BracketWorld()


def setup(seed=0, dropout=0.0, canon=""):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=6, context=32, n_layer=2, n_head=2, d_model=32, dropout=dropout, canon=canon))
    stream = OnlineStream(WORLD.sample_fn(), context=32, batch_size=8, sep_id=WORLD.bos_id, seed=seed)
    return model, stream


def quiet(**kw):
    return TrainConfig(**{"progress": False, "threads": 1, "device": "cpu", **kw})


def test_loss_falls():
    model, stream = setup()
    history = train(model, stream, quiet(steps=60, lr=3e-3, warmup_steps=5))
    assert history.steps == 60 and len(history.lr) == 60
    assert np.mean(history.loss[-10:]) < 0.8 * np.mean(history.loss[:5])
    assert history.tokens == 60 * 8 * 32


def test_killed_run_resumes_to_the_same_final_loss_bit_for_bit(tmp_path):
    # dropout makes the run depend on the torch RNG state too, which must also be restored
    config = dict(steps=24, lr=3e-3, warmup_steps=4, checkpoint_every=5, checkpoint_dir=str(tmp_path / "ckpt"))
    model, stream = setup(dropout=0.1, canon="AC")
    straight = train(model, stream, quiet(steps=24, lr=3e-3, warmup_steps=4))

    model, stream = setup(dropout=0.1, canon="AC")
    train(model, stream, quiet(**config), stop_after=13)  # "killed" at step 13; last checkpoint: step 10
    model, stream = setup(seed=0, dropout=0.1, canon="AC")
    torch.manual_seed(999)  # a fresh process would not share the old RNG state
    resumed = train(model, stream, quiet(**config))
    assert resumed.loss == straight.loss
    assert resumed.final_loss == straight.final_loss


def test_a_checkpoint_of_another_run_is_refused_and_kept(tmp_path):
    ckpt = tmp_path / "ckpt"
    model, stream = setup()
    train(model, stream, quiet(steps=3, checkpoint_every=1, checkpoint_dir=str(ckpt)))
    before = (ckpt / "last.pt").read_bytes()
    model, stream = setup()
    with pytest.raises(ValueError, match=r"different run \(differs in: lr"):
        train(model, stream, quiet(steps=3, lr=5e-4, checkpoint_every=1, checkpoint_dir=str(ckpt)))
    assert (ckpt / "last.pt").read_bytes() == before


def test_finished_checkpoint_reloads_as_a_model(tmp_path):
    model, stream = setup()
    train(model, stream, quiet(steps=3, checkpoint_dir=str(tmp_path)))
    again = load_model(tmp_path / "last.pt", device="cpu")
    x = torch.randint(0, 6, (2, 10))
    assert torch.equal(again(x).logits, model.to("cpu")(x).logits)


def test_schedules():
    cos = TrainConfig(steps=100, lr=1.0, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    assert lr_at(0, cos) == pytest.approx(0.1) and lr_at(9, cos) == pytest.approx(1.0)
    assert lr_at(10, cos) == pytest.approx(1.0) and lr_at(100, cos) == pytest.approx(0.1)
    lin = TrainConfig(steps=10, lr=2.0, schedule="linear")
    assert lr_at(5, lin) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cosine, linear, constant"):
        TrainConfig(steps=10, schedule="exp")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        TrainConfig(steps=10, checkpoint_every=5)


def test_weight_decay_skips_norms_and_frozen_weights():
    model = GPT(GPTConfig(vocab_size=6, context=8, n_layer=1, n_head=2, d_model=8, canon="A", canon_trainable=False))
    decay, no_decay = param_groups(model, 0.1)
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    frozen = {id(m.weight) for m in model.modules() if hasattr(m, "residual")}
    assert not frozen & {id(p) for p in decay["params"] + no_decay["params"]}


def test_eval_callbacks_and_history_roundtrip():
    model, stream = setup()
    calls = []
    history = train(model, stream, quiet(steps=6, eval_every=3, log_every=2),
                    eval_fn=lambda m, step: {"seen": step}, callbacks=[lambda step, h: calls.append(step)])
    assert [e["step"] for e in history.evals] == [3, 6] and calls == [2, 4, 6]
    assert History.from_dict(history.to_dict()) == history


DDP_SCRIPT = textwrap.dedent("""
    import sys, torch
    from plmkit.data.brackets import BracketWorld
    from plmkit.data.packing import OnlineStream
    from plmkit.model import GPT, GPTConfig
    from plmkit.train import TrainConfig, train
    torch.set_num_threads(1)
    world = BracketWorld()
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=6, context=32, n_layer=1, n_head=2, d_model=16))
    stream = OnlineStream(world.sample_fn(), context=32, batch_size=8, sep_id=world.bos_id, seed=0)
    h = train(model, stream, TrainConfig(steps=5, lr=3e-3, progress=False, device="cpu", threads=1, grad_clip=None))
    import torch.distributed as dist
    if not dist.is_initialized() or dist.get_rank() == 0:
        torch.save({"loss": h.loss, "params": [p.detach() for p in model.parameters()]}, sys.argv[1])
""")


def test_two_process_ddp_matches_one_process(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one.pt")], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
                          str(script), str(tmp_path / "two.pt")], env=env, capture_output=True, text=True, timeout=240)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert np.allclose(one["loss"], two["loss"], atol=1e-5)
    for a, b in zip(one["params"], two["params"]):
        assert torch.allclose(a, b, atol=1e-5)
