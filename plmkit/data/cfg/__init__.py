"""Context-free grammars for Physics of Language Models Part 1 (Allen-Zhu & Li, arXiv 2305.13673).

Typical use::

    from plmkit.data import cfg
    g = cfg.Grammar.load("cfg3f-d3")              # cfg3f rooted 3 levels above the terminals
    sentences, labels = cfg.sample(g, 64, rng=0, labels=True)
    cfg.accepts(g, sentences[0])                   # membership (layered CKY on bit sets)
    P = cfg.next_token_dist(g, sentences[0])       # exact (n+1) x (T+1) next-token rows, column 0 = EOS
    exact = cfg.exact_entropy_floor(g)             # H* in nats per predicted token, by DP (d3 roots and below)
    floor = cfg.entropy_floor(g, n=200, rng=1)     # H* sampled, with standard errors (any root)

Ids: 0 ``<pad>``, 1..T terminals, T+1 ``<bos>`` (also the EOS target), T+2 ``<mask>``, T+3 ``<sep>``;
``g.vocab_size == T + 4``. Every tool takes ``root=`` to work on a sub-grammar: any NT of a layered grammar is the root of a
smaller grammar with the same rules (``cfg3f-d3`` is cfg3f rooted three rewriting steps above the terminals).
"""
from plmkit.data.cfg.brute import enumerate_sentences, next_symbol_table
from plmkit.data.cfg.corrupt import corrupt, corrupt_prefix, flip_tokens, regrow_subtree
from plmkit.data.cfg.dp import PrefixDP, first_error, next_token_dist, prefix_dp, sentence_log_prob
from plmkit.data.cfg.entropy import (
    ENUMERATION_LIMIT,
    Ambiguity,
    EntropyFloor,
    ExactFloor,
    ambiguity,
    derivation_count,
    derivation_entropies,
    entropy_floor,
    exact_entropy_floor,
    expected_lengths,
    kl_along_sentence,
    mean_and_se,
    model_rows,
    row_entropy,
    sentence_kl,
)
from plmkit.data.cfg.grammar import GRAMMAR_NAMES, Grammar, load_grammar
from plmkit.data.cfg.metrics import (
    DiversityStats,
    GenerationScores,
    collision_pairs,
    diversity_stats,
    free_cores,
    is_valid_generation,
    score_generations,
    split_completion,
    wilson_interval,
)
from plmkit.data.cfg.ngram import ngram_ladder, sentence_stream
from plmkit.data.cfg.parser import ParseNode, accepts, count_parses, parse, tree_labels
from plmkit.data.cfg.sampler import (
    SentenceLabels,
    TreeLabels,
    sample,
    sample_min_length,
    sample_stream,
    sample_tokens,
)
from plmkit.data.cfg.stream import make_sample_fn

__all__ = [
    "GRAMMAR_NAMES", "Grammar", "load_grammar",
    "sample", "sample_tokens", "sample_stream", "sample_min_length", "make_sample_fn", "TreeLabels", "SentenceLabels",
    "corrupt", "corrupt_prefix", "flip_tokens", "regrow_subtree",
    "accepts", "count_parses", "parse", "tree_labels", "ParseNode",
    "next_token_dist", "prefix_dp", "PrefixDP", "sentence_log_prob", "first_error",
    "entropy_floor", "EntropyFloor", "exact_entropy_floor", "ExactFloor", "derivation_entropies", "expected_lengths",
    "derivation_count", "ambiguity", "Ambiguity", "ENUMERATION_LIMIT", "row_entropy", "kl_along_sentence", "sentence_kl", "model_rows", "mean_and_se",
    "ngram_ladder", "sentence_stream",
    "score_generations", "GenerationScores", "is_valid_generation", "split_completion", "wilson_interval",
    "diversity_stats", "DiversityStats", "collision_pairs", "free_cores",
    "enumerate_sentences", "next_symbol_table",
]
