import pytest
import torch

from plmkit.data.packing import FixedDataset
from plmkit.lora import LoRAConfig, LoRAEmbedding, LoRALinear, add_lora, count_trainable, lora_parameters, qkv_slices
from plmkit.model import GPT, GPTConfig
from plmkit.train import TrainConfig, train


def tiny_gpt(tie=True, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=17, context=16, n_layer=2, n_head=2, d_model=8, tie_embeddings=tie))


def test_update_starts_at_zero_so_the_wrapped_model_is_unchanged():
    model = tiny_gpt()
    wrapped = add_lora(model, LoRAConfig(rank=2, embedding_rank=3))
    x = torch.randint(0, 17, (3, 10))
    assert torch.allclose(model(x).logits, wrapped(x).logits, atol=1e-6)


def test_only_lora_factors_train_and_the_original_is_untouched():
    model = tiny_gpt()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    wrapped = add_lora(model, LoRAConfig(rank=2, embedding_rank=3))
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    # 2 layers x (A: 8x2 + B: 2x(q+v = 16)) + embedding (17x3 + 3x8)
    assert count_trainable(wrapped) == 2 * (8 * 2 + 2 * 16) + 17 * 3 + 3 * 8
    assert len(lora_parameters(wrapped)) == 6
    for p in model.parameters():
        assert p.requires_grad  # add_lora works on a copy
    examples = [torch.randint(1, 17, (7,)).numpy() for _ in range(20)]
    data = FixedDataset(examples, context=15, batch_size=4, sep_id=1, seed=0)
    train(wrapped, data, TrainConfig(steps=5, lr=1e-2, progress=False, threads=1))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} of the original model changed"
    frozen = {k: v for k, v in wrapped.state_dict().items() if "lora_" not in k}
    for k, v in frozen.items():
        original = k.replace(".base.", ".")
        assert torch.equal(v, before[original]), f"frozen weight {k} moved during fine-tuning"
    assert any(p.abs().sum() > 0 for n, p in wrapped.named_parameters() if "lora_b" in n)


def test_qv_slices_leave_the_keys_alone():
    assert qkv_slices(8, ("v", "q")) == [(0, 8), (16, 24)]
    with pytest.raises(ValueError, match="q, k, v"):
        qkv_slices(8, ("x",))
    torch.manual_seed(0)
    base = torch.nn.Linear(8, 24, bias=False)
    layer = LoRALinear(base, rank=2, alpha=1.0, slices=qkv_slices(8, ("q", "v")))
    with torch.no_grad():
        layer.lora_b.fill_(0.5)
    x = torch.randn(5, 8)
    diff = layer(x) - base(x)
    assert diff[:, 8:16].abs().max() == 0  # keys untouched
    assert diff[:, :8].abs().min() > 0 and diff[:, 16:].abs().min() > 0
    expected = 1.0 * (x @ layer.lora_a) @ layer.lora_b
    assert torch.allclose(diff[:, :8], expected[:, :8], atol=1e-6)
    assert torch.allclose(diff[:, 16:], expected[:, 8:], atol=1e-6)


def test_embedding_update_changes_the_input_lookup_but_not_the_tied_output():
    model = tiny_gpt(tie=True)
    wrapped = add_lora(model, LoRAConfig(rank=1, embedding_rank=2, alpha=2.0, attention=()))
    emb = wrapped.tok_emb
    assert isinstance(emb, LoRAEmbedding)
    with torch.no_grad():
        emb.lora_b.fill_(1.0)
    idx = torch.tensor([[3, 5]])
    expected = model.tok_emb(idx) + 2.0 * emb.lora_a[idx] @ emb.lora_b
    assert torch.allclose(emb(idx), expected)
    assert torch.equal(wrapped.lm_head.weight, model.lm_head.weight)  # output projection stays frozen
    assert wrapped.lm_head.weight is wrapped.tok_emb.base.weight


def test_generation_and_extra_targets_work():
    wrapped = add_lora(tiny_gpt(), LoRAConfig(rank=2, embedding_rank=0, extra=("blocks.*.mlp.up",)))
    assert isinstance(wrapped.blocks[0].mlp.up, LoRALinear)
    out = wrapped.generate(torch.tensor([[1, 2, 3]]), 4, temperature=0.0)
    assert out.shape == (1, 7)
    with pytest.raises(ValueError, match="no linear layer matches"):
        add_lora(tiny_gpt(), LoRAConfig(extra=("nothing.*",)))
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(torch.nn.Linear(4, 4), rank=0)


def test_lora_factors_come_from_the_seed_not_the_global_rng():
    model = tiny_gpt()
    torch.manual_seed(1)
    first = add_lora(model, LoRAConfig(rank=2, embedding_rank=3), seed=7)
    torch.manual_seed(2)  # a different global state must not matter
    second = add_lora(model, LoRAConfig(rank=2, embedding_rank=3), seed=7)
    other = add_lora(model, LoRAConfig(rank=2, embedding_rank=3), seed=8)
    for a, b, c in zip(lora_parameters(first), lora_parameters(second), lora_parameters(other)):
        assert torch.equal(a, b)
        if a.abs().sum() > 0:  # the B factors start at zero whatever the seed
            assert not torch.equal(a, c)


def test_new_output_rows_start_at_zero_and_change_only_their_words():
    model = tiny_gpt()
    wrapped = add_lora(model, LoRAConfig(rank=2, embedding_rank=3, output_rows=(3, 5)))
    x = torch.randint(0, model.config.vocab_size, (2, 5))
    assert torch.allclose(wrapped(x).logits, model(x).logits)  # the new rows start at exactly zero
    with torch.no_grad():
        wrapped.lm_head.lora_rows.normal_()
    hidden = torch.randn(4, model.config.d_model)
    delta = wrapped.lm_head(hidden) - model.lm_head(hidden)
    assert torch.allclose(delta[:, [3, 5]], hidden @ wrapped.lm_head.lora_rows.T, atol=1e-6)
    assert delta[:, [i for i in range(model.config.vocab_size) if i not in (3, 5)]].abs().max() == 0
    assert any(p is wrapped.lm_head.lora_rows for p in lora_parameters(wrapped))
    assert not wrapped.lm_head.weight.requires_grad  # the rest of the output matrix stays frozen
