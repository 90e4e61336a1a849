"""Gated linear attention: the chunked, recurrent and quadratic forms agree, the layer is causal with and
without Canon, cached generation equals uncached, bad configs are named, and a tiny model learns to copy."""
import math

import pytest
import torch

from plmkit import gla
from plmkit.experiments.canon import mechanics
from plmkit.model import GPT, GatedLinearAttention, GPTConfig

CANONS = ["", "A", "B", "C", "D", "ABCD"]


def gla_model(canon="", seed=0, **kw):
    torch.manual_seed(seed)
    config = dict(vocab_size=13, context=40, n_layer=2, n_head=2, d_model=16, mlp="swiglu", norm="rmsnorm",
                  attention="gla", pos="nope", canon=canon)
    return GPT(GPTConfig(**{**config, **kw})).eval()


def random_inputs(T, dk=4, dv=5, seed=0, dtype=torch.float64, gate_scale=3.0):
    g = torch.Generator().manual_seed(seed)
    q, k, gate = (torch.randn(2, 3, T, dk, generator=g, dtype=dtype) for _ in range(3))
    v = torch.randn(2, 3, T, dv, generator=g, dtype=dtype)
    return q, k, v, torch.nn.functional.logsigmoid(gate_scale * gate)


# --- the three forms ----------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 7, 8, 21])
@pytest.mark.parametrize("chunk", [1, 3, 8, 32])
def test_chunked_equals_the_step_by_step_recurrence(T, chunk):
    q, k, v, log_g = random_inputs(T)
    state = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    for start in (None, state):
        steps, last = gla.recurrent(q, k, v, log_g, start)
        out, final = gla.chunked(q, k, v, log_g, start, chunk=chunk)
        assert torch.allclose(out, steps, atol=1e-12) and torch.allclose(final, last, atol=1e-12)
    unrolled, scores = gla.quadratic(q, k, v, log_g)
    assert torch.allclose(unrolled, gla.recurrent(q, k, v, log_g)[0], atol=1e-12)
    assert torch.equal(scores.triu(1), torch.zeros_like(scores))  # nothing above the diagonal


def test_recurrence_written_out_for_one_head():
    q, k, v, log_g = random_inputs(5, dk=2, dv=3)
    S = torch.zeros(2, 3, dtype=torch.float64)
    for t in range(5):
        S = torch.diag(log_g[0, 0, t].exp()) @ S + torch.outer(k[0, 0, t], v[0, 0, t])
        assert torch.allclose(gla.chunked(q, k, v, log_g, chunk=2)[0][0, 0, t], q[0, 0, t] @ S, atol=1e-12)


def test_chunked_gradients_equal_the_recurrence():
    inputs = [t.requires_grad_() for t in random_inputs(11)]
    grad = torch.randn(2, 3, 11, 5, dtype=torch.float64)
    ours = torch.autograd.grad(gla.chunked(*inputs, chunk=4)[0], inputs, grad)
    reference = torch.autograd.grad(gla.recurrent(*inputs)[0], inputs, grad)
    for a, b in zip(ours, reference):
        assert torch.allclose(a, b, atol=1e-10)


def test_strong_forgetting_stays_finite_in_float32():
    """A chunk that forgets e^-800 would overflow exp(-b); only differences b_i - b_j <= 0 are exponentiated."""
    q, k, v, log_g = random_inputs(40, dtype=torch.float32, gate_scale=100.0)
    log_g = log_g - 50.0
    inputs = [t.requires_grad_() for t in (q, k, v, log_g)]
    out, state = gla.chunked(*inputs, chunk=16)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(state).all()
    assert all(torch.isfinite(t.grad).all() for t in inputs)
    assert torch.allclose(out, gla.recurrent(q, k, v, log_g)[0], atol=1e-5)


def test_bad_shapes_are_named():
    q, k, v, log_g = random_inputs(4)
    with pytest.raises(ValueError, match=r"\(B, H, T, dk\)"):
        gla.chunked(q, k[:, :, :3], v, log_g)
    with pytest.raises(ValueError, match="state must have shape"):
        gla.recurrent(q, k, v, log_g, torch.zeros(2, 3, 5, 4))
    with pytest.raises(ValueError, match="positive number"):
        gla.chunked(q, k, v, log_g, chunk=0)


# --- the layer in the model --------------------------------------------------------------------------
def test_config_choices_are_named():
    with pytest.raises(ValueError, match="softmax, gla"):
        GPTConfig(vocab_size=8, attention="mamba")
    with pytest.raises(ValueError, match="nope, learned"):
        GPTConfig(vocab_size=8, attention="gla", pos="rope")
    with pytest.raises(ValueError, match="causal=False"):
        GPTConfig(vocab_size=8, attention="gla", pos="nope", causal=False)
    with pytest.raises(ValueError, match="2 \\* n_head"):
        GPTConfig(vocab_size=8, attention="gla", pos="nope", n_head=4, d_model=36)


def test_config_round_trip_and_old_dicts():
    softmax = GPTConfig(vocab_size=8)
    assert "attention" not in softmax.to_dict()  # dicts saved before the switch existed still match
    assert GPTConfig(**softmax.to_dict()) == softmax
    linear = GPTConfig(vocab_size=8, attention="gla", pos="nope")
    assert linear.to_dict()["attention"] == "gla" and GPTConfig(**linear.to_dict()) == linear


def test_layer_shapes_and_parameters():
    d = 16
    model = gla_model()
    layer = model.blocks[0].attn
    assert isinstance(layer, GatedLinearAttention) and (layer.head_k, layer.head_v) == (4, 8)
    # q, k at half width, v, output gate and projection: 4 d^2, plus the low-rank gate and the head norm
    weights = {name: p.numel() for name, p in layer.named_parameters()}
    assert weights["qkv.weight"] + weights["out_gate.weight"] + weights["proj.weight"] == 4 * d * d
    assert weights["gate_down.weight"] + weights["gate_up.weight"] + weights["gate_up.bias"] == 16 * d + 16 * d // 2 + d // 2
    assert torch.equal(layer.gate_up.bias, torch.zeros(d // 2))
    # Canon-B sits on q/k/v: width 2d here (keys and queries at half width)
    assert gla_model("B").blocks[0].attn.canon_b.weight.shape == (2 * d, 1, 4)
    # the GPT-2 scaled init reaches the layer's output projection
    assert layer.proj.weight.std() < 0.02


@pytest.mark.parametrize("canon", CANONS)
def test_no_position_sees_the_future(canon):
    model = gla_model(canon)
    assert mechanics.future_leak(model, length=20) == 0.0
    x = torch.randint(0, 13, (2, 20))
    y = x.clone()
    y[:, 12:] = (y[:, 12:] + 1) % 13
    a, b = model(x, return_hidden=True), model(y, return_hidden=True)
    for ha, hb in zip(a.hidden, b.hidden):
        assert torch.equal(ha[:, :12], hb[:, :12])
        assert not torch.allclose(ha[:, 12:], hb[:, 12:])


@pytest.mark.parametrize("canon", ["", "B", "ABCD"])
def test_cached_forward_and_generation_equal_uncached(canon):
    model = gla_model(canon).double()
    x = torch.randint(0, 13, (3, 30))
    full = model(x).logits
    from plmkit.model import KVCache

    cache = KVCache(model.config.n_layer)
    pieces = [model(x[:, :9], cache=cache).logits]  # the prompt in chunks, then one token at a time
    pieces += [model(x[:, t:t + 1], cache=cache).logits for t in range(9, 30)]
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-10)

    model = gla_model(canon)
    prompt = torch.randint(1, 13, (3, 5))
    kwargs = dict(max_new_tokens=25, temperature=1.0, top_k=8)
    cached = model.generate(prompt, generator=torch.Generator().manual_seed(3), use_cache=True, **kwargs)
    plain = model.generate(prompt, generator=torch.Generator().manual_seed(3), use_cache=False, **kwargs)
    assert torch.equal(cached, plain)
    assert torch.equal(model.generate(prompt, 25, temperature=0), model.generate(prompt, 25, temperature=0, use_cache=False))


def test_scores_form_gives_the_same_logits():
    model = gla_model("ABCD").double()
    x = torch.randint(0, 13, (2, 17))
    out = model(x, return_attention=True)
    assert torch.allclose(out.logits, model(x).logits, atol=1e-10)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (2, 2, 17, 17)


def test_autocast_runs_the_recurrence_in_float32():
    model = gla_model("ABCD")
    x = torch.randint(0, 13, (2, 24))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x, x)
    assert torch.isfinite(low.loss) and abs(low.loss.item() - model(x, x).loss.item()) < 0.05


def test_softmax_default_is_unchanged_by_the_switch():
    torch.manual_seed(0)
    default = GPT(GPTConfig(vocab_size=13, context=16, n_layer=1, n_head=2, d_model=16, canon="ABCD"))
    torch.manual_seed(0)
    named = GPT(GPTConfig(vocab_size=13, context=16, n_layer=1, n_head=2, d_model=16, canon="ABCD", attention="softmax"))
    x = torch.randint(0, 13, (2, 16))
    assert torch.equal(default(x).logits, named(x).logits)
    assert all("gate" not in name for name in default.state_dict())


def copy_batch(generator, batch=32, N=6, vocab=8):
    """<bos> N distinct tokens <sep> the same N tokens; the loss counts only the copy."""
    perm = torch.stack([torch.randperm(vocab - 2, generator=generator)[:N] + 2 for _ in range(batch)])
    seq = torch.cat([torch.zeros(batch, 1, dtype=torch.long), perm, torch.ones(batch, 1, dtype=torch.long), perm], 1)
    weights = torch.zeros(batch, 2 * N + 1)
    weights[:, N + 1:] = 1
    return seq[:, :-1], seq[:, 1:], weights


def test_a_tiny_gla_model_learns_to_copy():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, context=16, n_layer=2, n_head=2, d_model=32, mlp="swiglu", norm="rmsnorm",
                          attention="gla", pos="nope"))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(150):
        loss = model(*copy_batch(generator)).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-10:]) / 10
    assert first > 0.8 * math.log(6)  # starts near guessing among the 6 tokens
    assert last < 0.3, f"copy loss only fell from {first:.2f} to {last:.2f}"
