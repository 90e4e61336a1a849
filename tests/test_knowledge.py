"""Part 3.1 experiment steps: data, exposures, mixed windows, evaluation positions, a tiny end-to-end run."""
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from plmkit.data import bios
from plmkit.data.packing import FixedDataset
from plmkit.experiments import knowledge as K
from plmkit.experiments import shipped
from plmkit.experiments.common import RunContext
from plmkit.experiments.knowledge import mixed
from plmkit.experiments.shared import bios as family

CI = RunContext(profile="ci", progress=False, threads=1)


@pytest.fixture(scope="module")
def world():
    return K.make_world(CI)


class Oracle(torch.nn.Module):
    """Predicts the true next token of its input (``shift`` = 1), or a wrong one (``shift`` = 2)."""

    def __init__(self, vocab: int, shift: int = 1):
        super().__init__()
        self.vocab, self.shift = vocab, shift
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(context=512)
        self.device = torch.device("cpu")

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
    examples, per_person = family.bio_examples(world, cel.both)
    assert per_person == [5] * 15  # a minority entry is repeated as often as a celebrity has entries
    assert len(examples) == 75
    assert K.passes_for(cel.both, 50) == 10
    minority_ids = {p.pid for p in cel.design.minority}
    assert {p.pid for p in cel.minority_test} <= minority_ids
    assert set(cel.both.split.train).isdisjoint(minority_ids)  # fine-tuned on celebrities only


def test_mixed_windows_are_all_bio_or_all_qa(world):
    data = K.make_bio_data(world, 20, "single")
    s = K.settings(CI).sizes
    bio = family.pretrain_dataset(world, data, s)
    qa = FixedDataset(bios.encode_qas(bios.qa_pairs(data.group("train")), world.tokenizer), context=s.context,
                      batch_size=s.batch, sep_id=world.eos, seed=1)
    source = K.MixedSource(bio, qa, 0.75, seed=3)
    answer_cue = world.tokenizer.id_of("Answer")
    qa_rows = 0
    for step in range(40):
        batch = source.batch(step)
        flags = source.qa_rows(step)
        for row, is_qa in zip(batch.inputs, flags):
            assert (answer_cue in row.tolist()) == bool(is_qa)
        qa_rows += int(flags.sum())
    assert 0.6 < qa_rows / (40 * s.batch) < 0.9
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
    feats = K.probes.position_features(Oracle(world.tokenizer.vocab_size), world, entries)
    assert feats.shape == (6, 6, world.tokenizer.vocab_size)
    for entry, rows in zip(entries, feats):
        words = ["<eos>"] + bios.vocab.split_words(entry.text)
        for (attribute, first, _), row in zip(family.entry_inputs(world, [entry])[1][0], rows):
            assert world.tokenizer.id_to_token[int(row.argmax())] == words[first - 1]
            assert words[first] == bios.vocab.split_words(entry.value_text(attribute))[0]


def test_answers_batched_by_length_match_one_by_one(world):
    torch.manual_seed(0)
    model = K.make_model(world, K.settings(CI).sizes)
    qas = bios.qa_pairs(bios.sample_people(6, world.pools, seed=0))
    together = K.generate_answers(model, world, qas, batch_size=4, max_new=6)
    alone = [K.generate_answers(model, world, [qa], max_new=6)[0] for qa in qas]
    assert together == alone
    scores = K.qa_accuracy(model, world, qas)
    assert set(scores.per_task) == set(bios.ATTRIBUTES) and 0 <= scores.mean <= 1


def test_tiny_run_trains_finetunes_and_probes(world, tmp_path):
    torch.manual_seed(0)
    run = K.run_augmentation(CI, world, "multi5+permute", n_people=12, exposures=10)
    m = run.metrics
    assert m["pretrain"]["final_loss"] < run.history.loss[0]
    for key in ("qa_test_mean", "qa_train_mean", "qa_first_token_test_mean"):
        assert 0.0 <= m[key] <= 1.0
    assert m["bio_first_token"]["train_people"] >= 0
    pp = K.p_probe(CI, run.model, world, run.data)
    assert np.asarray(pp["matrix"]).shape == (6, 6)
    qp = K.q_probe(CI, run.model, world, run.data)
    assert set(qp["test"]) == set(bios.ATTRIBUTES)


def test_shipped_checkpoints_load_only_for_the_exact_same_run(world, tmp_path, monkeypatch):
    from plmkit.results import RunDir

    monkeypatch.setitem(K.SETTINGS, "ci", replace(K.SETTINGS["ci"], shipped_runs=("pretrain_minority",)))
    monkeypatch.setattr(shipped, "root", lambda: tmp_path / "shipped")
    run_dir = RunDir(tmp_path / "run")
    ctx = RunContext(profile="ci", progress=False, threads=1, run_dir=run_dir)
    sizes = K.settings(ctx).sizes
    data = K.make_bio_data(world, 8, "single+permute1")
    model, history = K.pretrain(ctx, world, data, 4, "pretrain_minority", sizes)
    run_dir.write_manifest(part="knowledge", profile="ci")
    assert K.export_checkpoints(str(run_dir.path)) == ["pretrain_minority"]
    manifest = (tmp_path / "shipped" / "knowledge-ci" / "manifest.json").read_text()
    assert "sha256" in manifest and "reproduce_manifest" in manifest
    group = K.shipped_group(CI, "pretrain_minority")
    assert group == "knowledge-ci" and K.shipped_group(CI, "pretrain_single") is None
    loaded, loaded_history = K.pretrain(CI, world, data, 4, "pretrain_minority", sizes, shipped_group=group)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert loaded_history.loss == history.loss
    # a different run (other exposures) is never replaced by the shipped weights
    _, other = K.pretrain(CI, world, data, 6, "pretrain_minority", sizes, shipped_group=group)
    assert other.steps != history.steps
    # an edited weights file is an error, not a silently different model
    weights, _ = shipped.paths(group, "pretrain_minority")
    weights.write_bytes(weights.read_bytes()[:-1] + b"x")
    with pytest.raises(ValueError, match="checksum"):
        K.pretrain(CI, world, data, 4, "pretrain_minority", sizes, shipped_group=group)


def test_targets_rows_carry_the_measured_value_and_the_threshold():
    aug = {"single": {"qa_test_mean": 0.1, "bio_first_token": {"train_people": 0.99}},
           "multi5+permute": {"qa_test_mean": 0.6, "bio_first_token": {"train_people": 1.0}}}
    metrics = {"augmentations": aug, "celebrities": {"gain_points": 41.0}, "mixed": {"qa_test_mean": 0.5}}
    rows = {t.name: t for t in K.check_targets(metrics, "cpu")}
    assert set(rows) == {"single_at_most_20pct", "multi5_permute_at_least_70pct", "bio_memorised_single",
                         "bio_memorised_multi5+permute", "celebrity_gain_at_least_30_points",
                         "multi5_permute_minus_single_at_least_30_points", "mixed_at_least_2x_single"}
    assert rows["single_at_most_20pct"].met is True and rows["single_at_most_20pct"].threshold == "<= 0.2"
    assert rows["multi5_permute_at_least_70pct"].met is False and rows["multi5_permute_at_least_70pct"].measured == 0.6
    assert rows["multi5_permute_minus_single_at_least_30_points"].measured == pytest.approx(50)
    assert rows["celebrity_gain_at_least_30_points"].measured == 41.0
    assert rows["mixed_at_least_2x_single"].met is True and rows["mixed_at_least_2x_single"].measured == 5.0
    gpu = {t.name: t for t in K.check_targets(metrics, "gpu")}
    assert gpu["mixed_at_least_60pct"].met is False and gpu["mixed_at_least_60pct"].threshold == ">= 0.6"


def six(values):
    return dict(zip(bios.ATTRIBUTES, values))


def full_metrics():
    """A run that meets every Part 3.1 target of section 6.1 (numbers of the shape the cpu run gives)."""
    diagonal = (np.full((6, 6), 0.10) + np.diag([0.89] * 6)).tolist()
    diagonal[0][1] = 0.5  # one off-diagonal outlier: the median ignores it
    flat = [[0.55, 0.54, 0.59, 0.56, 0.55, 0.52]] * 6
    single = {"qa_test_mean": 0.176, "qa_test": six([0.35, 0.29, 0.07, 0.09, 0.07, 0.19]),
              "bio_first_token": {"train_people": 1.0}}
    multi = {"qa_test_mean": 0.916, "qa_test": six([0.83, 0.96, 0.90, 0.94, 0.95, 0.91]),
             "bio_first_token": {"train_people": 1.0}}
    curves = [{"step": 200, "bio_train": 0.26, "qa_train": 0.34, "bio_test": 0.22, "qa_test": 0.17},
              {"step": 400, "bio_train": 0.92, "qa_train": 0.96, "bio_test": 0.65, "qa_test": 0.29},
              {"step": 800, "bio_train": 0.98, "qa_train": 0.99, "bio_test": 0.91, "qa_test": 0.35},
              {"step": 1200, "bio_train": 1.0, "qa_train": 1.0, "bio_test": 1.0, "qa_test": 0.40},
              {"step": 1921, "bio_train": 1.0, "qa_train": 1.0, "bio_test": 1.0, "qa_test": 0.425}]
    return {"augmentations": {"single": single, "multi5+permute": multi},
            "p_probe": {"single": {"matrix": diagonal}, "multi5+permute": {"matrix": flat}},
            "q_probe": {"single": {"mean": 0.32, "test": six([0.72, 0.49, 0.29, 0.09, 0.07, 0.23])},
                        "multi5+permute": {"mean": 0.99, "test": six([0.99, 0.99, 0.99, 0.97, 0.99, 0.98])}},
            "celebrities": {"gain_points": 54.7}, "mixed": {"qa_test_mean": 0.38, "curves": curves}}


def test_every_section_6_1_target_has_a_row_and_a_run_of_the_right_shape_meets_them():
    rows = {t.name: t for t in K.check_targets(full_metrics(), "cpu")}
    assert {"single_birth_date_best_attribute", "p_probe_single_diagonal_at_least_50_points",
            "p_probe_multi5_permute_flat_within_15_points", "p_probe_p1_multi5_permute_above_single_for_4_of_5",
            "q_probe_multi5_permute_all_six_at_least_40pct", "q_probe_ranks_runs_like_qa", "mixed_at_least_2x_single",
            "mixed_curves_in_paper_order", "multi5_permute_minus_single_at_least_30_points"} <= set(rows)
    missed = [t for t in rows.values() if t.met is not True]
    assert not missed, missed
    assert rows["p_probe_single_diagonal_at_least_50_points"].measured == pytest.approx(89)
    assert rows["p_probe_multi5_permute_flat_within_15_points"].measured == pytest.approx(7)
    assert rows["p_probe_p1_multi5_permute_above_single_for_4_of_5"].measured == 5
    assert rows["q_probe_multi5_permute_all_six_at_least_40pct"].measured == 0.97
    assert rows["single_birth_date_best_attribute"].measured == 0.35
    assert "runner-up: birth city" in rows["single_birth_date_best_attribute"].note
    assert rows["mixed_at_least_2x_single"].measured == pytest.approx(0.38 / 0.176, abs=1e-5)


@pytest.mark.parametrize("edit,row,reason", [
    (lambda m: m["augmentations"]["single"]["qa_test"].update(company_city=0.4), "single_birth_date_best_attribute",
     "company city"),
    (lambda m: m["p_probe"]["single"]["matrix"][2].__setitem__(2, 0.4), "p_probe_single_diagonal_at_least_50_points",
     "university"),
    (lambda m: m["p_probe"]["multi5+permute"].update(matrix=[[0.3, 0.5, 0.5, 0.5, 0.5, 0.5]] * 6),
     "p_probe_multi5_permute_flat_within_15_points", "birth date"),
    (lambda m: m["q_probe"]["multi5+permute"]["test"].update(major=0.3), "q_probe_multi5_permute_all_six_at_least_40pct",
     "major"),
    (lambda m: m["q_probe"]["single"].update(mean=0.995), "q_probe_ranks_runs_like_qa", "0.995"),
    (lambda m: m["mixed"].update(qa_test_mean=0.3), "mixed_at_least_2x_single", "ratio"),
    (lambda m: m["mixed"]["curves"][1].update(qa_test=0.40), "mixed_curves_in_paper_order", "qa_test 400"),
])
def test_a_missed_target_is_reported_with_its_reason(edit, row, reason):
    metrics = full_metrics()
    edit(metrics)
    rows = {t.name: t for t in K.check_targets(metrics, "cpu")}
    assert rows[row].met is False and reason in rows[row].note, rows[row]
    assert sum(t.met is False for t in rows.values()) == 1


def test_diagonal_gaps_and_rise_steps():
    matrix = (np.full((6, 6), 0.2) + np.diag([0.7] * 6)).tolist()
    assert K.diagonal_gaps(matrix) == pytest.approx(six([0.7] * 6))
    assert K.diagonal_gaps(np.full((6, 6), 0.4).tolist()) == pytest.approx(six([0.0] * 6))
    curves = full_metrics()["mixed"]["curves"]
    assert K.rise_steps(curves) == {"bio_train": 400, "qa_train": 400, "bio_test": 800, "qa_test": 1200}


def test_q_probe_learns_only_the_query_embedding_and_each_attribute_alone(world):
    torch.manual_seed(0)
    model = K.make_model(world, K.settings(CI).sizes)
    data = K.make_bio_data(world, 16, "multi5+permute")
    people = data.group("train") + data.group("test")
    inputs = torch.as_tensor(np.stack([bios.encode_name_query(p, world.tokenizer) for p in people]))
    q_id = world.tokenizer.id_of("<q>")
    probe = K.QueryProbe(model, q_id, {"company": 3, "major": 4})
    with torch.no_grad():
        probe.query.normal_()
        emb_seen = []
        handle = probe.model.register_forward_pre_hook(lambda m, args, kwargs: emb_seen.append(kwargs["input_embeddings"]),
                                                       with_kwargs=True)
        probe.features(inputs)
        handle.remove()
    emb = emb_seen[0].reshape(2, len(inputs), inputs.shape[1], -1)
    own = model.tok_emb(inputs)
    assert torch.equal(emb[:, :, :-1], own[None, :, :-1].expand(2, -1, -1, -1))  # the names keep their embeddings
    assert not torch.allclose(emb[0, :, -1], emb[1, :, -1])  # one <q> vector per attribute
    targets = K.probe_targets(world, people)
    classes = {a: len(K.first_token_classes(world, a)) for a in ("company", "major")}
    kw = dict(steps=15, batch_size=8, lr=1e-3, query_lr=1e-2, seed=3)
    both = K.train_query_probes(model, inputs, targets, classes, q_id, 8, **kw)
    alone = K.train_query_probes(model, inputs, {"major": targets["major"]}, {"major": classes["major"]}, q_id, 8, **kw)
    assert set(both["test"]) == {"company", "major"}
    assert both["test"]["major"] == pytest.approx(alone["test"]["major"], abs=1 / 8 + 1e-9)


def test_every_profile_has_settings_and_the_shipped_runs_exist():
    for profile, s in K.SETTINGS.items():
        assert s.sizes == family.BIO_SIZES[profile]
        assert set(s.probe_runs) <= set(s.augmentations)
    for name in K.SETTINGS["cpu"].shipped_runs:
        assert name in shipped.names("knowledge-cpu")
        shipped.verify("knowledge-cpu", name)


def test_mixed_training_steps_scale_with_the_qa_ratio(world):
    data = K.make_bio_data(world, 10, "single")
    source = mixed.mixed_source(CI, world, data, 0.8)
    assert source.bio.context == source.qa.context == K.settings(CI).sizes.context
    assert source.describe()["kind"] == "mixed" and source.describe()["qa_ratio"] == 0.8
