"""Decoding with a detector in the loop, and beam search [P2.2 §3.2, Fig. 3].

Retry upon regret: decode greedily (beam 1); each time the model has written "Define <A> as", ask a
detector whether A can be computed next. If it says "not ready", roll the model back to the end of the
previous sentence (the KV cache is cut there) and sample the start of the sentence again, at most
``max_retries`` times per solution [P2.2 §3.2]. Kit decision: only the sentence start up to "as" is
sampled (multinomial); everything else stays greedy, so without a regret the output is exactly the
greedy one and every difference to plain decoding comes from the detector.

Detectors are callables ``ready(problem, prompt_ids, solution_ids) -> bool`` where ``solution_ids`` ends
with the "Define <A> as" just written: :func:`oracle_ready` knows can_next exactly from the problem's
graph; :class:`.detection.ProbeDetector` asks a trained probe.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import torch

from ...data.igsm import Problem
from ...model import KVCache

Detector = Callable[[Problem, Sequence[int], Sequence[int]], bool]
HEAD_LENGTH = 5  # "Define" item "'s" item-or-category "as"


@dataclass
class Decoded:
    """One decoded solution: the kept tokens after ``<sol>`` and the rollbacks the detector caused."""

    tokens: list[int]
    regrets: int = 0
    flagged: list = field(default_factory=list)  # the names the detector turned down, in order


def _words(problem: Problem, ids: Sequence[int]) -> list[str]:
    return problem.world.vocab.tokens(ids)


def written_parameters(problem: Problem, words: Sequence[str]) -> set[int]:
    """Parameters the complete sentences of ``words`` define ("Define <A> as x ..."), retries excluded,
    whether or not their arithmetic is right: what the model has written so far."""
    known: set[int] = set()
    sentence: list[str] = []
    for w in words:
        if w != ".":
            sentence.append(w)
            continue
        if len(sentence) >= 5 and sentence[0] == "Define" and sentence[2] == "'s" and sentence[4] == "as" \
                and sentence[5:6] != ["[BACK]"]:
            p = problem.structure.index.get((sentence[1], sentence[3]))
            if p is not None:
                known.add(p)
        sentence = []
    return known


def head_parameter(problem: Problem, words: Sequence[str]) -> Optional[int]:
    """The parameter of the trailing "Define <A> as" (None when A names no parameter of the problem)."""
    if len(words) < HEAD_LENGTH or words[-HEAD_LENGTH] != "Define" or words[-3] != "'s" or words[-1] != "as":
        return None
    return problem.structure.index.get((words[-4], words[-2]))


def oracle_ready(problem: Problem, prompt_ids: Sequence[int], solution_ids: Sequence[int]) -> bool:
    """The perfect can_next detector (vP of [P2.2 Fig. 3b]): A is a parameter of the problem, not written
    yet, and everything it is computed from was written before."""
    words = _words(problem, solution_ids)
    p = head_parameter(problem, words)
    if p is None:
        return False
    known = written_parameters(problem, words[:-HEAD_LENGTH])
    return p not in known and all(q in known for q in problem.preds_of(p))


# ----------------------------------------------------------------------------------------------
# The model, one row at a time with a KV cache that can be cut back
# ----------------------------------------------------------------------------------------------
class _Runner:
    def __init__(self, model, prompt: Sequence[int]):
        if model.config.canon:
            raise ValueError("rollback decoding supports models without Canon layers only")
        self.model = model
        self.cache = KVCache(model.config.n_layer)
        self.logits = self._feed(list(prompt))

    def _feed(self, ids: list[int]) -> torch.Tensor:
        x = torch.as_tensor([ids], dtype=torch.long, device=self.model.device)
        return self.model(x, cache=self.cache).logits[0, -1].float()

    def push(self, token: int) -> None:
        self.logits = self._feed([token])

    @property
    def length(self) -> int:
        return self.cache.length

    def cut(self, length: int, logits: torch.Tensor) -> None:
        for layer in self.cache.layers:
            layer.k, layer.v = layer.k[:, :, :length], layer.v[:, :, :length]
        self.cache.length = length
        self.logits = logits


def _pick(logits: torch.Tensor, temperature: float, generator: Optional[torch.Generator]) -> int:
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1).cpu()
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.no_grad()
def decode(model, problem: Problem, detector: Optional[Detector] = None, max_retries: int = 10,
           resample_temperature: float = 1.0, seed: int = 0, layout: str = "pq", limit: Optional[int] = None,
           temperature: float = 0.0) -> Decoded:
    """One problem's solution, greedy (``temperature=0``) or sampled; with a ``detector``, retry upon
    regret: a sentence start the detector turns down is sampled again at ``resample_temperature``.

    The random draws come from ``seed`` alone, so with the same seed a solution in which the detector
    never fires is token for token the one plain decoding writes."""
    model.eval()
    vocab = problem.world.vocab
    define, as_, dot, eos = (vocab.id_of(t) for t in ("Define", "as", ".", "<eos>"))
    prompt = problem.prompt(layout).tolist()
    limit = min(limit or model.config.context, model.config.context)
    generator = torch.Generator().manual_seed(seed)
    run = _Runner(model, prompt)
    out = Decoded([])
    at_sentence_start = True

    def room() -> bool:
        return len(prompt) + len(out.tokens) < limit

    while room():
        if not (at_sentence_start and detector is not None):
            token = _pick(run.logits, temperature, generator)
            out.tokens.append(token)
            if token == eos:
                break
            run.push(token)
            at_sentence_start = token == dot
            continue
        # A sentence starts: write its head, ask the detector, maybe roll back and sample it again.
        start, start_logits, attempt = run.length, run.logits, 0
        while True:
            head = []
            temperature_now = temperature if attempt == 0 else resample_temperature
            while len(prompt) + len(out.tokens) + len(head) < limit:
                token = _pick(run.logits, temperature_now, generator)
                head.append(token)
                if token == eos:
                    break
                run.push(token)
                if head[0] != define or token in (as_, dot) or len(head) >= HEAD_LENGTH + 1:
                    break
            is_step = head[:1] == [define] and head[-1] == as_
            if not is_step or out.regrets >= max_retries or detector(problem, prompt, out.tokens + head):
                break
            out.regrets += 1
            out.flagged.append(" ".join(_words(problem, head[1:4])))
            run.cut(start, start_logits)
            attempt += 1
        out.tokens.extend(head)
        if head and head[-1] == eos:
            break
        at_sentence_start = bool(head) and head[-1] == dot
    return out


@torch.no_grad()
def beam_search(model, problem: Problem, beam: int = 4, layout: str = "pq", limit: Optional[int] = None) -> Decoded:
    """Beam search on the sum of log-probabilities: the best finished solution (up to ``<eos>``) among
    ``beam`` hypotheses [P2.2 Fig. 3b]. Stops once no open hypothesis can beat the best finished one."""
    model.eval()
    eos = problem.world.vocab.eos
    prompt = problem.prompt(layout).tolist()
    limit = min(limit or model.config.context, model.config.context)
    run = _Runner(model, prompt)
    alive: list[tuple[float, list[int]]] = [(0.0, [])]
    logprobs = torch.log_softmax(run.logits, -1)[None]
    finished: list[tuple[float, list[int]]] = []
    for _ in range(limit - len(prompt)):
        scores = torch.as_tensor([s for s, _ in alive], dtype=torch.float32)[:, None] + logprobs.cpu()
        top = torch.topk(scores.flatten(), min(2 * beam, scores.numel()))
        keep, rows = [], []
        for value, flat in zip(top.values.tolist(), top.indices.tolist()):
            row, token = divmod(flat, scores.shape[1])
            hyp = alive[row][1] + [token]
            if token == eos:
                finished.append((value, hyp))
            elif len(keep) < beam:
                keep.append((value, hyp))
                rows.append(row)
            if len(keep) == beam:
                break
        finished.sort(key=lambda x: -x[0])
        if not keep or (len(finished) >= beam) or (finished and finished[0][0] >= keep[0][0]):
            break
        index = torch.as_tensor(rows, device=model.device)
        for layer in run.cache.layers:
            layer.k, layer.v = layer.k.index_select(0, index), layer.v.index_select(0, index)
        x = torch.as_tensor([[hyp[-1]] for _, hyp in keep], dtype=torch.long, device=model.device)
        logprobs = torch.log_softmax(model(x, cache=run.cache).logits[:, -1].float(), -1)
        alive = keep
    best = max(finished, key=lambda x: x[0]) if finished else max(alive, key=lambda x: x[0])
    return Decoded(best[1])
