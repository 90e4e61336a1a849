import math

import pytest
import torch
import torch.nn as nn

from plmkit.model import GPT, Canon, GPTConfig, Rotary

POSITIONS = ["rope", "learned", "nope", "uniform"]


def make(tiny_config, **kw):
    torch.manual_seed(0)
    return GPT(GPTConfig(**{**tiny_config, **kw})).eval()


# --- rotary -------------------------------------------------------------------------------------
def explicit_rotation(x, position, base=10000.0):
    """Rotate each pair (x[2i], x[2i+1]) by position * base^(-2i/d), written out by hand."""
    out = x.clone()
    d = x.shape[-1]
    for i in range(d // 2):
        angle = position * base ** (-2 * i / d)
        a, b = x[..., 2 * i], x[..., 2 * i + 1]
        out[..., 2 * i] = a * math.cos(angle) - b * math.sin(angle)
        out[..., 2 * i + 1] = a * math.sin(angle) + b * math.cos(angle)
    return out


def test_rope_matches_explicit_rotation():
    rotary = Rotary(head_dim=8, fraction=1.0, base=10000.0, context=16)
    x = torch.randn(2, 16, 3, 8)  # (batch, time, heads, head_dim)
    rotated = rotary(x)
    for t in range(16):
        assert torch.allclose(rotated[:, t], explicit_rotation(x[:, t], t), atol=1e-5)
    # with an offset (generation with a cache) position t is rotated as t + offset
    assert torch.allclose(rotary(x[:, 5:9], offset=5), rotated[:, 5:9], atol=1e-6)


def test_partial_rope_rotates_only_its_fraction():
    rotary = Rotary(head_dim=8, fraction=0.25, base=10000.0, context=8)
    x = torch.randn(1, 8, 1, 8)
    out = rotary(x)
    assert torch.equal(out[..., 2:], x[..., 2:])
    for t in range(8):
        assert torch.allclose(out[0, t, 0, :2], explicit_rotation(x[0, t, 0, :2], t, base=10000.0), atol=1e-5)


def test_rope_scores_depend_only_on_distance():
    rotary = Rotary(head_dim=8, fraction=1.0, base=10000.0, context=32)
    q, k = torch.randn(8), torch.randn(8)
    def score(i, j):
        qs = rotary(q.expand(1, 32, 1, 8))[0, i, 0]
        ks = rotary(k.expand(1, 32, 1, 8))[0, j, 0]
        return (qs @ ks).item()
    assert score(10, 7) == pytest.approx(score(20, 17), abs=1e-4)


# --- causality and caching ----------------------------------------------------------------------
@pytest.mark.parametrize("pos", POSITIONS)
@pytest.mark.parametrize("canon", ["", "ABCD"])
def test_no_position_sees_the_future(tiny_config, pos, canon):
    model = make(tiny_config, pos=pos, canon=canon, mlp="swiglu" if canon else "gelu")
    x = torch.randint(0, 13, (2, 20))
    y = x.clone()
    y[:, 12:] = (y[:, 12:] + 1) % 13  # change the future only
    a, b = model(x, return_hidden=True), model(y, return_hidden=True)
    for ha, hb in zip(a.hidden, b.hidden):
        assert torch.allclose(ha[:, :12], hb[:, :12], atol=1e-6)
        assert not torch.allclose(ha[:, 12:], hb[:, 12:])


def test_encoder_sees_both_directions(tiny_config):
    model = make(tiny_config, causal=False)
    x = torch.randint(0, 13, (1, 10))
    y = x.clone()
    y[0, 9] = (y[0, 9] + 1) % 13
    assert not torch.allclose(model(x).logits[:, 0], model(y).logits[:, 0])


@pytest.mark.parametrize("pos", POSITIONS)
@pytest.mark.parametrize("canon", ["", "ABCD", "B"])
def test_kv_cache_generation_equals_uncached(tiny_config, pos, canon):
    model = make(tiny_config, pos=pos, canon=canon)
    prompt = torch.randint(1, 13, (3, 5))
    kwargs = dict(max_new_tokens=20, temperature=1.0, top_k=8)
    cached = model.generate(prompt, generator=torch.Generator().manual_seed(3), use_cache=True, **kwargs)
    plain = model.generate(prompt, generator=torch.Generator().manual_seed(3), use_cache=False, **kwargs)
    assert torch.equal(cached, plain)


def test_generate_stops_and_pads(tiny_config):
    model = make(tiny_config)
    out = model.generate(torch.ones(4, 2, dtype=torch.long), 25, temperature=0)  # greedy: deterministic
    assert out.shape == (4, 27)
    stop = int(out[0, 2])
    out = model.generate(torch.ones(4, 2, dtype=torch.long), 25, temperature=0, stop_token=stop, pad_token=0)
    assert out.shape[1] == 3 and (out[:, 2] == stop).all()


# --- Canon ---------------------------------------------------------------------------------------
def test_canon_equals_left_padded_depthwise_conv():
    canon = Canon(6)
    x = torch.randn(2, 9, 6)
    conv = nn.Conv1d(6, 6, 4, groups=6, bias=False)
    conv.weight.data.copy_(canon.weight.data)
    expected = conv(nn.functional.pad(x.transpose(1, 2), (3, 0))).transpose(1, 2) + x
    assert torch.allclose(canon(x)[0], expected, atol=1e-6)


def test_canon_matches_the_papers_formula_with_zero_padding():
    canon = Canon(3)
    x = torch.randn(1, 5, 3)
    w = canon.weight[:, 0, :]
    out = canon(x)[0]
    for t in range(5):
        expected = x[0, t].clone()
        for lag in range(4):
            if t - lag >= 0:  # positions before the start count as zeros
                expected += w[:, 3 - lag] * x[0, t - lag]
        assert torch.allclose(out[0, t], expected, atol=1e-6)
    # the first position sees only itself: h_0 + w3 * h_0
    assert torch.allclose(out[0, 0], x[0, 0] * (1 + w[:, 3]), atol=1e-6)


def test_canon_keeps_default_conv_init_after_model_init(tiny_config):
    model = make(tiny_config, d_model=128, n_head=4, canon="ABCD")
    weights = [m.weight for m in model.modules() if isinstance(m, Canon)]
    assert len(weights) == 4 * tiny_config["n_layer"]
    for w in weights:
        assert w.abs().max() <= 0.5 + 1e-6
        assert abs(w.std().item() - 1 / math.sqrt(12)) < 0.03


def test_constant_canon_is_frozen(tiny_config):
    model = make(tiny_config, canon="AC", canon_trainable=False)
    assert all(not m.weight.requires_grad for m in model.modules() if isinstance(m, Canon))


# --- uniform attention ------------------------------------------------------------------------------
def test_uniform_attention_averages_the_last_2h_minus_1_tokens(tiny_config):
    model = make(tiny_config, pos="uniform")
    maps = model(torch.randint(0, 13, (1, 12)), return_attention=True).attentions[0][0]  # (H, T, T)
    for h in range(4):
        window = 2 ** (h + 1) - 1
        for i in range(12):
            row = maps[h, i]
            lo = max(0, i - window + 1)
            assert torch.allclose(row[lo : i + 1], torch.full((i + 1 - lo,), 1.0 / (i + 1 - lo)), atol=1e-6)
            assert row[:lo].sum() == 0 and row[i + 1 :].sum() == 0


# --- outputs and counts --------------------------------------------------------------------------------
def test_return_hidden_and_attention_shapes(tiny_config):
    model = make(tiny_config)
    out = model(torch.randint(0, 13, (2, 7)), return_hidden=True, return_attention=True)
    assert len(out.hidden) == 3 and all(h.shape == (2, 7, 32) for h in out.hidden)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (2, 4, 7, 7)
    assert torch.allclose(out.attentions[0].sum(-1), torch.ones(2, 4, 7), atol=1e-5)


def test_param_counts(tiny_config):
    model = make(tiny_config, pos="learned")
    counts = model.param_counts(used_token_ids=[1, 2, 3])
    d, v, c, L = 32, 13, 32, 2
    per_block = 3 * d * d + d * d + 8 * d * d + 2 * d  # qkv, proj, mlp, two norm weights
    assert counts["non_embedding"] == L * per_block + d  # + final norm
    assert counts["embedding"] == 2 * v * d + c * d
    assert counts["used"] == counts["total"] - (v - 3) * 2 * d
    tied = make(tiny_config, tie_embeddings=True).param_counts(used_token_ids=[1])
    assert tied["embedding"] == v * d and tied["used"] == tied["total"] - (v - 1) * d


def test_canon_param_count_formula(tiny_config):
    base = make(tiny_config, mlp="swiglu").param_counts()["total"]
    canon = make(tiny_config, mlp="swiglu", canon="ABCD").param_counts()["total"]
    d = 32
    hidden = 88  # 8 * 32 / 3 rounded up to a multiple of 8
    assert canon - base == 2 * 4 * (d + 3 * d + d + 2 * hidden)


# --- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value,names", [
    ("pos", "alibi", "rope, learned, nope, uniform"),
    ("mlp", "relu", "gelu, swiglu"),
    ("norm", "batchnorm", "layernorm, rmsnorm"),
    ("canon", "AE", "ABCD"),
])
def test_unknown_options_name_the_valid_choices(tiny_config, field, value, names):
    with pytest.raises(ValueError, match=names):
        GPTConfig(**{**tiny_config, field: value})


def test_bad_shapes_and_lengths(tiny_config):
    model = make(tiny_config)
    with pytest.raises(ValueError, match="longer than the model's context"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(batch, time\)"):
        model(torch.zeros(33, dtype=torch.long))
    with pytest.raises(ValueError, match="integer tensor"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"\[0, 12\]"):
        model(torch.full((1, 4), 13))
    with pytest.raises(ValueError, match="exceeds the context"):
        model.generate(torch.zeros(1, 30, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(**{**tiny_config, "d_model": 30})
