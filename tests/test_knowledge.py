"""Part 3.1 experiment steps: data, exposures, mixed windows, evaluation positions, a tiny end-to-end run."""
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from plmkit.data import bios
from plmkit.experiments import knowledge as K
from plmkit.experiments.common import RunContext


@pytest.fixture(scope="module")
def world():
    return K.make_world("ci")


class Oracle(torch.nn.Module):
    """Predicts the true next token of its input (``shift`` = 1), or a wrong one (``shift`` = 2)."""

    def __init__(self, vocab: int, shift: int = 1):
        super().__init__()
        self.vocab, self.shift = vocab, shift
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(context=512)

    def forward(self, idx, return_hidden=False):
        future = torch.roll(idx, -self.shift, dims=1)
        return SimpleNamespace(logits=torch.nn.functional.one_hot(future, self.vocab).float(),
                               hidden=[torch.nn.functional.one_hot(idx, self.vocab).float()])

    def norm_final(self, x):
        return x


def test_same_seed_same_text_other_seed_other_text(world):
    a = K.make_bio_data(world, 12, "multi5+permute", seed=0)
    b = K.make_bio_data(world, 12, "multi5+permute", seed=0)
    c = K.make_bio_data(world, 12, "multi5+permute", seed=1)
    texts = lambda d: [e.text for es in d.entries for e in es]  # noqa: E731
    assert texts(a) == texts(b) and a.split == b.split
    assert texts(a) != texts(c)
    assert set(a.split.train).isdisjoint(a.split.test) and len(a.split.train) == 6


def test_exposures_are_counted_per_person(world):
    single = K.make_bio_data(world, 10, "single")
    multi = K.make_bio_data(world, 10, "multi5+permute")
    assert K.passes_for(single, 30) == 30 and K.passes_for(multi, 30) == 6
    cel = K.make_celebrity_data(world, 6, 9, seed=0)
    examples, per_person = K.bio_examples(world, cel.both)
    assert per_person == [5] * 15  # a minority entry is repeated as often as a celebrity has entries
    assert len(examples) == 75
    assert K.passes_for(cel.both, 50) == 10
    minority_ids = {p.pid for p in cel.design.minority}
    assert {p.pid for p in cel.minority_test} <= minority_ids
    assert set(cel.both.split.train).isdisjoint(minority_ids)  # fine-tuned on celebrities only


def test_mixed_windows_are_all_bio_or_all_qa(world):
    data = K.make_bio_data(world, 20, "single")
    s = K.settings("ci")
    bio = K.pretrain_dataset(world, data, "ci")
    qa = K.FixedDataset(bios.encode_qas(bios.qa_pairs(data.group("train")), world.tokenizer), context=s["context"],
                        batch_size=s["batch"], sep_id=world.eos, seed=1)
    source = K.MixedSource(bio, qa, 0.75, seed=3)
    answer_cue = world.tokenizer.id_of("Answer")
    qa_rows = 0
    for step in range(40):
        batch = source.batch(step)
        flags = source.qa_rows(step)
        for row, is_qa in zip(batch.inputs, flags):
            assert (answer_cue in row.tolist()) == bool(is_qa)
        qa_rows += int(flags.sum())
    assert 0.6 < qa_rows / (40 * s["batch"]) < 0.9
    assert torch.equal(source.batch(7).inputs, source.batch(7).inputs)  # a pure function of the step


def test_bio_accuracy_reads_the_value_tokens(world):
    data = K.make_bio_data(world, 5, "multi5+permute")
    entries = [e for es in data.entries for e in es]
    perfect = K.bio_accuracy(Oracle(world.tokenizer.vocab_size, 1), world, entries)
    assert perfect["first_token_mean"] == 1.0 and perfect["whole_mean"] == 1.0
    wrong = K.bio_accuracy(Oracle(world.tokenizer.vocab_size, 2), world, entries)
    assert wrong["first_token_mean"] < 0.2


def test_p_probe_positions_are_the_tokens_before_each_value(world):
    data = K.make_bio_data(world, 4, "multi5+permute")
    entries = [e for es in data.entries for e in es][:6]
    feats = K.position_features(Oracle(world.tokenizer.vocab_size), world, entries)
    assert feats.shape == (6, 6, world.tokenizer.vocab_size)
    for entry, rows in zip(entries, feats):
        words = ["<eos>"] + bios.vocab.split_words(entry.text)
        for (attribute, first, _), row in zip(K.entry_inputs(world, [entry])[1][0], rows):
            assert world.tokenizer.id_to_token[int(row.argmax())] == words[first - 1]
            assert words[first] == bios.vocab.split_words(entry.value_text(attribute))[0]


def test_answers_batched_by_length_match_one_by_one(world):
    torch.manual_seed(0)
    model = K.make_model(world, "ci")
    qas = bios.qa_pairs(bios.sample_people(6, world.pools, seed=0))
    together = K.generate_answers(model, world, qas, batch_size=4, max_new=6)
    alone = [K.generate_answers(model, world, [qa], max_new=6)[0] for qa in qas]
    assert together == alone
    scores = K.qa_accuracy(model, world, qas)
    assert set(scores.per_task) == set(bios.ATTRIBUTES) and 0 <= scores.mean <= 1


def test_tiny_run_trains_finetunes_and_probes(world, tmp_path):
    torch.manual_seed(0)
    ctx = RunContext(profile="ci", progress=False, threads=1)
    run = K.run_augmentation(ctx, world, "multi5+permute", n_people=12, exposures=10)
    m = run.metrics
    assert m["pretrain"]["final_loss"] < run.history.loss[0]
    for key in ("qa_test_mean", "qa_train_mean", "qa_first_token_test_mean"):
        assert 0.0 <= m[key] <= 1.0
    assert m["bio_first_token"]["train_people"] >= 0
    pp = K.p_probe(run.model, world, run.data, "ci")
    assert np.asarray(pp["matrix"]).shape == (6, 6)
    qp = K.q_probe(run.model, world, run.data, "ci")
    assert set(qp["test"]) == set(bios.ATTRIBUTES)
    targets = K.check_targets({"augmentations": {"single": {**m, "qa_test_mean": 0.1}}})
    assert targets["single_at_most_20pct"] is True


def test_shipped_checkpoints_load_only_for_the_exact_same_run(world, tmp_path, monkeypatch):
    from plmkit.results import RunDir

    monkeypatch.setitem(K.SHIPPED_RUNS, "ci", ("pretrain_minority",))
    monkeypatch.setattr(K, "shipped_dir", lambda profile: tmp_path / "shipped")
    run_dir = RunDir(tmp_path / "run")
    ctx = RunContext(profile="ci", progress=False, threads=1, run_dir=run_dir)
    data = K.make_bio_data(world, 8, "single+permute1")
    model, history = K.pretrain(ctx, world, data, 4, "pretrain_minority")
    run_dir.write_manifest(part="knowledge")
    assert K.export_checkpoints(str(run_dir.path), "ci") == ["pretrain_minority.pt"]
    manifest = (tmp_path / "shipped" / "manifest.json").read_text()
    assert "sha256" in manifest and "reproduce_manifest" in manifest
    notebook = RunContext(profile="ci", progress=False, threads=1)
    loaded, loaded_history = K.pretrain(notebook, world, data, 4, "pretrain_minority", shipped=True)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert loaded_history.loss == history.loss
    # a different run (other exposures) is never replaced by the shipped weights
    _, other = K.pretrain(notebook, world, data, 6, "pretrain_minority", shipped=True)
    assert other.steps != history.steps
