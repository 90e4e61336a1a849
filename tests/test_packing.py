import numpy as np
import pytest
import torch

from plmkit.data.packing import Example, FixedDataset, OnlineStream, pack_windows

SEP = 1


def test_truncating_pack_fills_windows_and_marks_end_predictions():
    tok, w, used = pack_windows([np.array([5, 6, 7]), np.array([8, 9]), np.array([4, 4, 4])], context=6, sep_id=SEP, truncate=True)
    # window of 7 tokens: <sep> 5 6 7 <sep> 8 9 | the rest of [8 9] is cut, the next window starts fresh
    assert tok.tolist() == [[SEP, 5, 6, 7, SEP, 8, 9]]
    assert w[0].tolist() == [0, 1, 1, 1, 1, 1, 1]
    assert used == 2


def test_whole_example_pack_pads_and_never_splits():
    examples = [Example([5, 6], weights=[0, 1], end_weight=1.0), Example([7, 7, 7]), Example([8])]
    tok, w, used = pack_windows(examples, context=6, sep_id=SEP, truncate=False)
    assert tok.tolist() == [[SEP, 5, 6, SEP, 0, 0, 0], [SEP, 7, 7, 7, SEP, 8, SEP]]
    assert w.tolist()[0] == [0, 0, 1, 1, 0, 0, 0]
    assert used == 3
    with pytest.raises(ValueError, match="does not fit"):
        pack_windows([np.arange(10)], context=6, sep_id=SEP, truncate=False)


def sample_fn(rng, n):
    return [rng.integers(2, 9, size=rng.integers(1, 6)) for _ in range(n)]


def test_online_stream_is_a_pure_function_of_seed_and_step():
    a = OnlineStream(sample_fn, context=16, batch_size=4, sep_id=SEP, seed=7)
    b = OnlineStream(sample_fn, context=16, batch_size=4, sep_id=SEP, seed=7)
    assert torch.equal(a.batch(3).inputs, b.batch(3).inputs)
    assert torch.equal(a.batch(3).inputs, a.batch(3).inputs)
    assert not torch.equal(a.batch(3).inputs, a.batch(4).inputs)
    assert not torch.equal(a.batch(3).inputs, OnlineStream(sample_fn, 16, 4, SEP, seed=8).batch(3).inputs)
    batch = a.batch(0)
    assert batch.inputs.shape == batch.targets.shape == batch.weights.shape == (4, 16)
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    assert (batch.inputs[:, 0] == SEP).all()


def test_fixed_dataset_shows_every_example_once_per_epoch_reshuffled():
    examples = [np.array([10 + i, 10 + i]) for i in range(20)]
    data = FixedDataset(examples, context=8, batch_size=2, sep_id=SEP, seed=1)
    steps = data.steps_for(1)

    def seen(step_range):
        firsts = []
        for s in step_range:
            x = data.batch(s).inputs
            firsts += [int(t) for t in x.flatten() if t >= 10]
        return firsts

    epoch0 = seen(range(steps))
    assert sorted(set(epoch0)) == list(range(10, 30)) and len(epoch0) == 40  # each item once (2 tokens each)
    two = data.steps_for(2)
    epoch1 = seen(range(steps, two))
    assert sorted(epoch1) == sorted(epoch0) and epoch1 != epoch0  # same items, new order
    again = FixedDataset(examples, context=8, batch_size=2, sep_id=SEP, seed=1)
    assert torch.equal(again.batch(steps + 1).inputs, data.batch(steps + 1).inputs)
