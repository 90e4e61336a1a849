"""bioD generation, rendering and the fresh-exposure training streams (Part 3.3 data)."""
import hashlib
import math

import numpy as np
import pytest

from plmkit.data import bios
from plmkit.data.capacity import (EOS_ID, PRESETS, BioDConfig, FreshExposures, biod_dataset, bios_online_dataset,
                                  generate_biod, preset)
from plmkit.data.packing import OnlineStream


def digest(data) -> str:
    h = hashlib.sha256()
    for array in (data.names, data.pools, data.chunks):
        h.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return h.hexdigest()


def lines_in(windows: np.ndarray) -> list[list[int]]:
    """The examples packed into windows: the pieces between <eos> separators, padding dropped."""
    out = []
    for row in windows.tolist():
        piece = []
        for token in row + [EOS_ID]:
            if token == EOS_ID:
                if piece:
                    out.append(piece)
                piece = []
            elif token != 0:
                piece.append(token)
    return out


def test_tiny_preset_matches_its_definition():
    cfg = PRESETS["bioD-tiny"]
    assert (cfg.K, cfg.C, cfg.L, cfg.D, cfg.T, cfg.N0) == (8, 1, 1, 64, 256, 65_536)
    assert cfg.line_length == 18  # 2 name tokens + 8 (attribute, value) pairs; 19 with <eos>
    assert cfg.vocab_size == 3 + 256 + 8 + 256
    assert preset("bioD-tiny", N=500).N == 500 and preset("bioD-ci").K == 4


@pytest.mark.parametrize("kwargs, words", [
    (dict(N=0, K=1, C=1, D=2, L=1, T=4), "positive integer N"),
    (dict(N=5, K=1, C=1, D=5, L=1, T=4), "T^L"),
    (dict(N=17, K=1, C=1, D=2, L=1, T=4, name_pools=(4, 4)), "N0=16"),
    (dict(N=2, K=1, C=1, D=1, L=1, T=1), "T >= 2"),
])
def test_bad_configs_are_clear_errors(kwargs, words):
    with pytest.raises(ValueError, match=words.replace("^", r"\^")):
        BioDConfig(**kwargs)


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError, match="bioD-tiny"):
        preset("bioD-huge")


def test_same_seed_same_data_other_seed_other_people():
    cfg = preset("bioD-tiny", N=300)
    a, b, c = generate_biod(cfg, 0), generate_biod(cfg, 0), generate_biod(cfg, 1)
    assert digest(a) == digest(b) and digest(a) != digest(c)
    assert not np.array_equal(a.names, c.names)


def test_definition_2_2_names_distinct_pools_distinct_values_from_pools():
    cfg = BioDConfig(N=3000, K=5, C=3, D=40, L=2, T=9, name_pools=(60, 70))
    data = generate_biod(cfg, 3)
    codes = data.names[:, 0] * 70 + data.names[:, 1]
    assert len(np.unique(codes)) == cfg.N and data.names[:, 0].max() < 60 and data.names[:, 1].max() < 70
    assert data.pools.shape == (5, 40, 2) and data.pools.max() < 9
    for pool in data.pools:
        assert len({tuple(chunk) for chunk in pool}) == cfg.D
    values = data.value_ids - cfg.first_value_id  # (N, K, C*L)
    for a in range(cfg.K):
        pool = {tuple(chunk) for chunk in data.pools[a]}
        chunks = values[:, a].reshape(-1, cfg.L)
        assert {tuple(c) for c in chunks} <= pool
    # chunk choices are uniform over the pool: every pool entry used, no entry used wildly often
    counts = np.bincount(data.chunks.ravel(), minlength=cfg.D)
    expected = data.chunks.size / cfg.D
    assert counts.min() > 0.7 * expected and counts.max() < 1.3 * expected


def test_huge_chunk_space_uses_the_rejection_path():
    cfg = BioDConfig(N=50, K=2, C=1, D=300, L=6, T=40_000)  # T^L = 4.1e27 > 2^62
    a, b = generate_biod(cfg, 0), generate_biod(cfg, 0)
    assert digest(a) == digest(b) and a.pools.max() < 40_000
    assert len({tuple(c) for c in a.pools[0]}) == 300


def test_rendered_line_layout_and_value_positions():
    data = generate_biod(preset("bioD-tiny", N=50), 0)
    orders = data.draw_orders(np.random.default_rng(5))
    lines = data.render(orders)
    cfg = data.config
    assert lines.shape == (50, 18)
    assert np.array_equal(lines[:, :2], data.name_ids)
    positions = data.value_positions(orders)  # (50, 8, 1)
    rows = np.arange(50)[:, None]
    assert np.array_equal(lines[rows, positions[:, :, 0]], data.value_ids[:, :, 0])
    # the token before each value is that attribute's ID token
    assert np.array_equal(lines[rows, positions[:, :, 0] - 1], np.broadcast_to(data.attribute_ids, (50, 8)))
    assert len({tuple(o) for o in orders.tolist()}) > 40  # orders are random per person
    text = data.tokenizer().decode(lines[0])
    assert text.split()[0].startswith("n") and text.split()[2].startswith("ID")
    assert data.tokenizer().vocab_size == cfg.vocab_size


def test_used_token_ids_are_exactly_the_tokens_of_the_text():
    data = generate_biod(preset("bioD-ci"), 0)
    lines = data.render(data.draw_orders(np.random.default_rng(0)))
    assert np.array_equal(data.used_token_ids(), np.unique(np.concatenate([[EOS_ID], lines.ravel()])))


def test_multi_chunk_values_render_in_order():
    cfg = BioDConfig(N=20, K=3, C=2, D=5, L=3, T=7, name_pools=(30, 30, 30))
    data = generate_biod(cfg, 1)
    orders = data.draw_orders(np.random.default_rng(0))
    lines, positions = data.render(orders), data.value_positions(orders)
    assert lines.shape == (20, 3 + 3 * 7) and positions.shape == (20, 3, 6)
    got = np.take_along_axis(lines, positions.reshape(20, -1), axis=1).reshape(20, 3, 6)
    assert np.array_equal(got, data.value_ids)


def test_fresh_exposures_show_everyone_once_per_pass_in_a_new_order():
    data = generate_biod(preset("bioD-ci", N=40), 0)
    stream = biod_dataset(data, context=64, batch_size=2, seed=7)
    per_pass = len(stream.epoch_windows(0)[0])
    assert stream.steps_for(3) == -(-3 * per_pass // 2)
    first, second = stream.epoch_windows(0)[0], stream.epoch_windows(1)[0]
    assert first.shape == second.shape  # equal-length lines: every pass packs the same way
    for windows in (first, second):
        names = [tuple(line[:2]) for line in lines_in(windows)]
        assert sorted(names) == sorted(map(tuple, data.name_ids.tolist()))
    assert not np.array_equal(first, second)
    again = biod_dataset(data, context=64, batch_size=2, seed=7)
    for step in (0, 5, 11):
        assert np.array_equal(stream.batch(step).inputs, again.batch(step).inputs)
    assert stream.describe()["people"] == 40


def test_fresh_exposures_batches_cover_passes_in_sequence():
    data = generate_biod(preset("bioD-ci", N=30), 2)
    stream = biod_dataset(data, context=32, batch_size=3, seed=0)
    windows = np.concatenate([stream.epoch_windows(e)[0] for e in range(3)])
    got = np.concatenate([np.concatenate([stream.batch(s).inputs.numpy(), stream.batch(s).targets.numpy()[:, -1:]], 1)
                          for s in range(len(windows) // 3)])
    assert np.array_equal(got, windows[:len(got)])


def test_plugs_into_online_stream():
    data = generate_biod(preset("bioD-ci"), 0)
    stream = OnlineStream(data.sample_examples, context=32, batch_size=4, sep_id=EOS_ID, seed=3, truncate=False)
    batch = stream.batch(0)
    assert batch.inputs.shape == (4, 32) and int(batch.inputs[0, 0]) == EOS_ID
    assert np.array_equal(batch.inputs, stream.batch(0).inputs)


def test_line_longer_than_context_is_an_error():
    data = generate_biod(preset("bioD-tiny", N=10), 0)
    with pytest.raises(ValueError, match="does not fit"):
        biod_dataset(data, context=16, batch_size=2)


def test_online_bios_renders_fresh_entries_every_pass():
    pools = bios.pools_for_profile("ci")
    people = bios.sample_people(12, pools, seed=0)
    tok = bios.build_tokenizer(pools, "short")
    stream = bios_online_dataset(people, tok, context=128, batch_size=2, seed=4, templates="short")
    eos = tok.id_of("<eos>")

    def entries(epoch):
        flat = stream.epoch_windows(epoch)[0].ravel().tolist()
        text, out = [], []
        for t in flat:
            if t == eos or t == 0:
                if text:
                    out.append(tok.decode(text))
                text = []
            else:
                text.append(t)
        return out

    first, second = entries(0), entries(1)
    assert len(first) == len(second) == 12
    assert set(first) != set(second)  # new templates and sentence orders
    names = sorted(p.full_name for p in people)
    assert sorted(next(n for n in names if e.startswith(n)) for e in first) == names
    again = bios_online_dataset(people, tok, context=128, batch_size=2, seed=4, templates="short")
    assert np.array_equal(again.batch(3).inputs, stream.batch(3).inputs)
    assert isinstance(stream, FreshExposures) and math.isfinite(stream.steps_for(2))


def test_tagged_examples_start_with_the_tag_and_are_all_trained_on():
    data = generate_biod(preset("bioD-ci"), 0)
    examples = data.examples(np.random.default_rng(0), tag=True)
    assert len(examples) == 100 and all(int(e.tokens[0]) == 2 for e in examples)
    assert all(len(e.tokens) == 11 and (e.weights == 1).all() for e in examples)
    stream = biod_dataset(data, context=16, batch_size=2, tag=True)
    assert int(stream.batch(0).inputs[0, 1]) == 2


@pytest.mark.parametrize("n, length, context", [(100, 18, 128), (7, 9, 10), (1, 5, 6), (37, 11, 64)])
def test_fast_packing_equals_pack_windows(n, length, context):
    from plmkit.data.capacity.biod import pack_equal_lines
    from plmkit.data.packing import pack_windows

    lines = np.random.default_rng(n).integers(3, 50, size=(n, length))
    fast = pack_equal_lines(lines, context, EOS_ID)
    slow = pack_windows(list(lines), context, EOS_ID, truncate=False)
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])
    with pytest.raises(ValueError, match="does not fit"):
        pack_equal_lines(lines, length, EOS_ID)
