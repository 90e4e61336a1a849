import pytest

from plmkit.tokenizer import WordTokenizer, split_words


def test_split_words_separates_punctuation():
    assert split_words("Anya's city is Princeton, NJ.") == ["Anya", "'s", "city", "is", "Princeton", ",", "NJ", "."]


def test_ids_are_fixed_and_round_trip(tmp_path):
    tok = WordTokenizer(["b", "a", "Princeton", ",", "NJ", "."], specials=("<pad>", "<bos>"))
    assert tok.pad_id == 0 and tok.id_of("<bos>") == 1 and tok.id_of("b") == 2 and tok.id_of("a") == 3
    ids = tok.encode("Princeton, NJ.")
    assert tok.decode(ids) == "Princeton, NJ."
    tok.save(tmp_path / "vocab.json")
    assert WordTokenizer.load(tmp_path / "vocab.json") == tok


def test_unknown_word_is_a_clear_error():
    tok = WordTokenizer(["alpha", "beta"])
    with pytest.raises(KeyError, match="'gamma' is not in the vocabulary"):
        tok.encode("alpha gamma")


def test_bad_vocabularies_are_rejected():
    with pytest.raises(ValueError, match="<pad>"):
        WordTokenizer(["a"], specials=("<bos>",))
    with pytest.raises(ValueError, match="duplicate"):
        WordTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="without spaces"):
        WordTokenizer(["a b"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        WordTokenizer(["a"]).decode([7])
