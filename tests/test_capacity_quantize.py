"""Round-to-nearest int8 / int4 weight quantisation (Part 3.3 Result 8)."""
import pytest
import torch

from plmkit.data.capacity import (biod_dataset, counted_parameters, generate_biod, measure_biod, preset, quantization_scale,
                                  quantize_model, quantize_tensor)
from plmkit.model import GPT, GPTConfig


def small_model(tie: bool = False, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=50, context=16, n_layer=2, n_head=2, d_model=32, tie_embeddings=tie))
    with torch.no_grad():  # give the norms non-default values so "left alone" is testable
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("granularity", ["channel", "tensor"])
def test_int8_moves_each_weight_at_most_half_a_step(granularity):
    w = torch.randn(64, 48) * torch.linspace(0.01, 3.0, 64)[:, None]
    q, scale = quantize_tensor(w, 8, granularity)
    assert q.shape == w.shape and q.dtype == w.dtype
    assert scale.shape == ((64, 1) if granularity == "channel" else ())
    assert ((q - w).abs() <= scale / 2 + 1e-6).all()
    levels = torch.round(q / scale)
    assert levels.abs().max() <= 127 and torch.allclose(levels * scale, q)
    assert torch.equal(quantize_tensor(q, 8, granularity)[0], q)  # already on the grid: unchanged


def test_int4_is_coarser_and_per_channel_beats_per_tensor():
    w = torch.randn(64, 48) * torch.linspace(0.01, 3.0, 64)[:, None]
    err = {(b, g): (quantize_tensor(w, b, g)[0] - w).abs().mean().item() for b in (8, 4) for g in ("channel", "tensor")}
    assert err[(4, "channel")] > 10 * err[(8, "channel")]
    assert err[(8, "channel")] < err[(8, "tensor")] and err[(4, "channel")] < err[(4, "tensor")]
    q4, s4 = quantize_tensor(w, 4, "channel")
    assert all(len(torch.unique(row)) <= 15 for row in q4)  # 2^4 - 1 symmetric levels
    assert ((q4 - w).abs() <= s4 / 2 + 1e-6).all()
    assert torch.equal(quantization_scale(w, 4), w.abs().amax(1, keepdim=True) / 7)


def test_zero_rows_stay_zero():
    w = torch.zeros(3, 5)
    w[1] = torch.arange(5.0)
    q, _ = quantize_tensor(w, 4)
    assert torch.equal(q[0], torch.zeros(5)) and torch.isfinite(q).all()


@pytest.mark.parametrize("tie", [False, True])
def test_quantized_copy_round_trip(tie):
    model = small_model(tie)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_model(model, bits=8)
    for k, v in model.state_dict().items():  # the original is untouched
        assert torch.equal(v, before[k])
    qs = q.state_dict()
    assert set(qs) == set(before)
    for k, v in qs.items():
        assert v.shape == before[k].shape and v.dtype == before[k].dtype
        if "norm" in k:
            assert torch.equal(v, before[k])  # norms stay in float
    assert not torch.equal(qs["blocks.0.mlp.up.weight"], before["blocks.0.mlp.up.weight"])
    assert not torch.equal(qs["tok_emb.weight"], before["tok_emb.weight"])
    assert (q.lm_head.weight is q.tok_emb.weight) == tie
    used = range(20)
    assert counted_parameters(q, used) == counted_parameters(model, used)  # same P
    x = torch.randint(0, 50, (2, 10))
    with torch.no_grad():
        drift8 = (q(x).logits - model(x).logits).abs().max().item()
        drift4 = (quantize_model(model, bits=4)(x).logits - model(x).logits).abs().max().item()
    assert 0 < drift8 < drift4


def test_trained_model_keeps_its_bits_under_int8():
    """End to end: train on bioD with fresh orders, measure, quantise, measure again (about 1 s)."""
    data = generate_biod(preset("bioD-ci", N=60), 0)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=data.config.vocab_size, context=32, n_layer=1, n_head=2, d_model=32))
    stream = biod_dataset(data, context=32, batch_size=8, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for step in range(stream.steps_for(100)):  # 100 exposures per person
        batch = stream.batch(step)
        loss = model(batch.inputs, batch.targets, batch.weights).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    base = measure_biod(model, data)
    assert base.learned.total > 0.9 * base.max_bits.total  # a far-from-full model stores nearly everything
    m8, m4 = measure_biod(quantize_model(model, 8), data), measure_biod(quantize_model(model, 4), data)
    assert m8.parameters == base.parameters
    gap8, gap4 = base.learned.total - m8.learned.total, base.learned.total - m4.learned.total
    assert abs(gap8) < 0.005 * base.learned.total and gap4 > abs(gap8)


@pytest.mark.parametrize("bits, granularity", [(16, "channel"), (3, "channel"), (8, "row")])
def test_bad_choices_name_the_valid_ones(bits, granularity):
    with pytest.raises(ValueError, match="valid choices"):
        quantize_model(small_model(), bits=bits, granularity=granularity)
    with pytest.raises(ValueError, match="valid choices"):
        quantize_tensor(torch.ones(2, 2), bits, granularity)
