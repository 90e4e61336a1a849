import pytest
import torch

from plmkit.model import GPT, GPTConfig
from plmkit.probe import balanced_accuracy, fit_linear_probe, hidden_states, probe_layers, train_lowrank_probe


def small_model(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=10, context=16, n_layer=2, n_head=2, d_model=16)).eval()


def test_linear_probe_finds_a_planted_direction_and_not_noise():
    torch.manual_seed(0)
    x = torch.randn(600, 12)
    y = (x[:, 3] - x[:, 7] > 0).long()
    good = fit_linear_probe(x[:400], y[:400], x[400:], y[400:])
    assert good.accuracy > 0.92
    noise = fit_linear_probe(x[:400], torch.randint(0, 2, (400,)), x[400:], torch.randint(0, 2, (200,)))
    assert noise.accuracy < 0.65
    # the returned weights apply to raw (unstandardised) features
    pred = (x[400:] @ good.weight + good.bias).argmax(-1)
    assert (pred == y[400:]).float().mean().item() == pytest.approx(good.accuracy)


def test_balanced_accuracy_is_fair_to_rare_classes():
    labels = torch.tensor([0] * 9 + [1])
    assert balanced_accuracy(torch.zeros(10, dtype=torch.long), labels) == pytest.approx(0.5)


def test_probe_layers_reads_the_current_token_and_has_a_control():
    model = small_model()
    inputs = torch.randint(0, 10, (80, 12))
    labels = inputs.clone()  # "which token is here": readable at every layer, even at random init
    labels[:, 0] = -1
    report = probe_layers(model, inputs, labels, layers="all", control=True)
    assert report["layers"] == [0, 1, 2]
    assert min(report["trained"]) > 0.9 and min(report["random_init"]) > 0.9
    assert report["majority"] < 0.3


def test_probe_layers_rejects_bad_input():
    model = small_model()
    with pytest.raises(ValueError, match="same shape"):
        probe_layers(model, torch.zeros(4, 5, dtype=torch.long), torch.zeros(4, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="layer 7 does not exist"):
        hidden_states(model, torch.zeros(2, 3, dtype=torch.long), layers=[7])
    with pytest.raises(ValueError, match="'all', 'last'"):
        probe_layers(model, torch.zeros(4, 5, dtype=torch.long), torch.zeros(4, 5, dtype=torch.long), layers="first")


def test_lowrank_probe_learns_and_leaves_the_model_untouched():
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)
    inputs = torch.randint(1, 10, (400, 8))
    positions = torch.full((400,), 5)
    # target: the token 3 positions earlier, which only attention can bring to position 5
    targets = inputs[:, 2] - 1
    result = train_lowrank_probe(model, inputs, {"t": positions}, {"t": targets}, {"t": 9}, rank=4, steps=150,
                                 lr=1e-2, weight_decay=0.0)
    assert result["train"]["t"] > 0.2 and result["test"]["t"] > 1 / 9
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(ValueError, match="missing heads"):
        train_lowrank_probe(model, inputs, {}, {"t": targets}, {"t": 9})


def test_lowrank_probe_head_init_from_unembedding():
    model = small_model()
    inputs = torch.randint(1, 10, (64, 6))
    head = {"next": model.lm_head.weight.detach().clone()}
    result = train_lowrank_probe(model, inputs, {"next": torch.full((64,), 5)}, {"next": inputs[:, 5]}, {"next": 10},
                                 rank=0, steps=0, head_init=head)
    # with zero training steps the head is the model's own output layer: it reads its next-token prediction
    logits = model(inputs).logits[:, 5].argmax(-1)
    assert result["test"]["next"] == pytest.approx((logits[32:] == inputs[32:, 5]).float().mean().item())
