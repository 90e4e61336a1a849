"""Prefetching draws the same batches as the source, so a run's result never depends on it."""
import pytest
import torch

from plmkit.data.brackets import BracketWorld
from plmkit.data.packing import OnlineStream
from plmkit.data.prefetch import Prefetcher, auto_workers, fork_available
from plmkit.model import GPT, GPTConfig
from plmkit.train import TrainConfig, data_workers_for, train

pytestmark = pytest.mark.skipif(not fork_available(), reason="prefetching needs the fork start method")
WORLD = BracketWorld()


def stream(seed=0):
    return OnlineStream(WORLD.sample_fn(), context=32, batch_size=8, sep_id=WORLD.bos_id, seed=seed)


def same(a, b):
    return all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("inputs", "targets", "weights"))


def test_batches_equal_the_sources_in_order_and_after_a_jump():
    source = stream()
    with Prefetcher(source, workers=2, ahead=3) as prefetched:
        for step in [0, 1, 2, 3, 10, 11, 5, 6]:  # a jump ahead and one back: both recomputed correctly
            assert same(prefetched.batch(step), source.batch(step)), step
        assert prefetched.describe() == source.describe()


def test_needs_a_worker():
    with pytest.raises(ValueError, match="at least one worker"):
        Prefetcher(stream(), workers=0)


def test_workers_by_device(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert auto_workers("cpu", cpu_count=16) == 0  # the CPU's cores train the model
    assert auto_workers("cuda", cpu_count=2) == 1
    assert auto_workers("cuda", cpu_count=64) == 4
    assert auto_workers("cuda", cpu_count=1) == 0
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # eight ranks share 16 cores: one worker each
    assert auto_workers("cuda", cpu_count=16) == 1
    with pytest.raises(ValueError, match="0 or more"):
        data_workers_for(TrainConfig(steps=1, data_workers=-1), torch.device("cpu"))


def run(workers, steps=12, stop_after=None, checkpoint_dir=None):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=6, context=32, n_layer=1, n_head=2, d_model=16))
    config = TrainConfig(steps=steps, lr=3e-3, progress=False, threads=1, device="cpu", data_workers=workers,
                         checkpoint_every=4 if checkpoint_dir else 0, checkpoint_dir=checkpoint_dir)
    return train(model, stream(), config, stop_after=stop_after).loss


def test_training_with_workers_is_bit_identical_to_training_without(tmp_path):
    assert run(0) == run(2)
    # killed with workers, resumed without: the same run
    run(2, stop_after=5, checkpoint_dir=str(tmp_path / "ck"))
    assert run(0, checkpoint_dir=str(tmp_path / "ck")) == run(0)
