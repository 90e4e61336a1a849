"""Answer-token accuracy: packed like training, never counts the marker, per k, per answer, per offset."""
import numpy as np
import pytest
import torch

from plmkit.data.packing import pack_windows
from plmkit.data.playground import copy, depo, mano, metrics
from plmkit.data.playground.vocab import ANS, BOS, QUERY

MICRO = depo.PRESETS["depo-micro"]


def depo_windows(count=12, ks=(1, 2, 4), cfg=MICRO):
    test = depo.eval_set(cfg, count, seed=0, ks=ks)
    return test, metrics.pack_for_eval(test, context=128 if cfg is MICRO else 512)


def test_windows_match_training_packing_and_locate_answers():
    test, w = depo_windows()
    tokens, _, _ = pack_windows([i.example() for i in test], 128, BOS, truncate=False)
    assert (w.tokens == tokens).all()
    assert w.answer_mask.sum() == sum(a.stop - a.start for i in test for a in i.answers)
    assert set(np.unique(w.targets[w.answer_mask])) <= set(range(MICRO.layout.first_symbol, MICRO.layout.vocab_size))
    assert ANS not in w.targets[w.answer_mask]
    # the input just before every answer token is <ans> (single-token names)
    assert (w.inputs[w.answer_mask] == ANS).all()
    assert w.batch().weights.sum() == w.answer_mask.sum()


def test_marker_is_never_counted():
    _, w = depo_windows()
    right = w.targets.copy()
    only_answers = np.where(w.targets == ANS, 0, right)  # every <ans> wrong, every answer right
    assert metrics.score(w, only_answers).token_accuracy == 1.0
    only_markers = np.where(w.answer_mask, 0, right)  # every <ans> right, every answer wrong
    scores = metrics.score(w, only_markers)
    assert scores.token_accuracy == 0.0 and scores.answer_accuracy == 0.0


def test_per_k_accuracy():
    _, w = depo_windows(count=20)
    predicted = w.targets.copy()
    predicted[w.group == 2] = 0  # every k = 2 answer wrong
    scores = metrics.score(w, predicted)
    assert set(scores.by_group) == {1, 2, 4}
    assert scores.by_group[1].token_accuracy == scores.by_group[4].token_accuracy == 1.0
    assert scores.by_group[2].token_accuracy == 0.0
    expected = (w.group[w.answer_mask] != 2).mean()
    assert scores.token_accuracy == pytest.approx(expected)
    assert sum(g.answers for g in scores.by_group.values()) == scores.answers == 20 * min(10, MICRO.N)


def test_token_versus_whole_answer_accuracy_with_multi_token_names():
    cfg = depo.DepoConfig(N=16, K=2, V=5, name_len=(2, 2))
    test, w = depo_windows(count=6, ks=(1, 2), cfg=cfg)
    predicted = w.targets.copy()
    predicted[(w.offset == 1)] = 0  # second token of every name wrong
    scores = metrics.score(w, predicted)
    assert scores.token_accuracy == pytest.approx(0.5) and scores.answer_accuracy == 0.0
    assert metrics.score(w, predicted, max_offset=1).token_accuracy == 1.0


def test_copy_first_t_tokens_and_mano():
    cfg = copy.CopyConfig(16)
    test = copy.eval_set(cfg, 4)
    w = metrics.pack_for_eval(test, context=34)
    assert w.tokens.shape == (4, 35) and QUERY not in w.targets[w.answer_mask]
    predicted = w.targets.copy()
    predicted[w.offset >= 2] = 0
    assert metrics.score(w, predicted, max_offset=2).token_accuracy == 1.0
    assert metrics.score(w, predicted, max_offset=4).token_accuracy == 0.5
    assert metrics.score(w, predicted).answer_accuracy == 0.0
    m = mano.ManoConfig(L=4)
    wm = metrics.pack_for_eval(mano.eval_set(m, 30, seed=0), context=64)
    assert wm.answer_mask.sum() == 30 and set(metrics.score(wm, wm.targets).by_group) == {4}


def test_teacher_forced_predictions_with_a_model_and_bad_shapes():
    _, w = depo_windows(count=4)

    class Echo(torch.nn.Module):  # predicts the right answer for every position: logits one-hot on targets
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            rows = {tuple(r): t for r, t in zip(w.inputs.tolist(), w.targets.tolist())}
            targets = torch.tensor([rows[tuple(r)] for r in x.tolist()])
            return type("Out", (), {"logits": torch.nn.functional.one_hot(targets, MICRO.layout.vocab_size).float()})

    predicted = metrics.teacher_forced_predictions(Echo(), w, batch_size=3)
    assert (predicted == w.targets).all() and metrics.score(w, predicted).answer_accuracy == 1.0
    with pytest.raises(ValueError, match="shape"):
        metrics.score(w, predicted[:, :-1])
