"""The full-solution checker: is every step of a generated solution right? Never raises.

Accuracy in both papers means a fully correct solution: every calculation and every dependency is
checked, not only the final answer [P2.1 §3, fn. 13, App. F.1]. A solution (the tokens after
``<sol>`` up to ``<ans>``) is split into sentences at ``.``; ``Define <name> as [BACK] .`` is a retry
[P2.2 §4] that is counted and skipped. Every other sentence must read
``Define <name> as x ; (y = <expr> ;)* so x = <expr> .`` and is correct when

1. the name is a parameter of the problem (an item's item or an item's category) not defined before;
2. all its direct predecessors were defined earlier (else ``not_ready``: the parameter could not be
   computed next, the error class of [P2.1 Fig. 8b]);
3. every letter is new when defined and defined before use (intermediate letters live in their own
   sentence); the numbers equal the letters' values and each result is right mod 23;
4. the operands, resolved through intermediate letters, are exactly its predecessors;
5. the value equals the true value.

The last parameter defined must be the question's, and the number after ``<ans>`` its value. Any valid
order and operand order is accepted; unnecessary parameters are allowed and reported [P2.1 Fig. 4].
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from plmkit.data.igsm.problem import Problem, apply
from plmkit.data.igsm.vocab import LETTERS, NUMBERS, as_token_list, to_text

REASONS = ("no_solution", "malformed", "unknown_param", "redefined", "undefined_letter", "arithmetic",
           "wrong_deps", "not_ready", "wrong_value", "wrong_query", "wrong_answer", "truncated")
_LETTERS = frozenset(LETTERS)
_NUMBERS = {n: int(n) for n in NUMBERS}
_OPS = frozenset(("+", "-", "*"))


@dataclass
class CheckResult:
    """The verdict on one generated solution (``to_dict()`` gives the JSON record)."""

    correct: bool
    reason: Optional[str] = None  # one of REASONS when not correct
    detail: str = ""
    answer_correct: bool = False  # the number after <ans> equals the true answer (whatever the steps)
    answer: Optional[int] = None  # the generated answer
    expected: Optional[int] = None  # the true answer
    first_error_index: Optional[int] = None  # index of the first wrong sentence (retries not counted)
    first_error_name: Optional[str] = None  # its parameter name, when one could be read
    first_error_param: Optional[int] = None  # its parameter id, when it is a parameter of U
    defined: list = field(default_factory=list)  # names of the parameters defined by correct sentences
    unnecessary: list = field(default_factory=list)  # defined but not needed for the question
    unnecessary_ops: int = 0  # sum of op over the unnecessary parameters
    retries: int = 0  # "Define ... as [BACK]." sentences
    sentences: int = 0  # non-retry sentences read
    internal_error: Optional[str] = None  # set only if the checker itself failed (a bug)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["first_error"] = (None if self.first_error_index is None and self.first_error_name is None else
                              {"index": self.first_error_index, "name": self.first_error_name})
        return out


class _Fail(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def check_solution(problem: Problem, generated) -> CheckResult:
    """Check a generation given as text, a token list, or token ids (anything else is an incorrect verdict).

    If the generation contains ``<sol>``, checking starts after it; it stops at ``<eos>``.
    """
    try:
        return _check(problem, generated)
    except Exception as err:  # a last resort: the verdict must always come back
        return CheckResult(False, "malformed", f"unreadable input ({type(err).__name__})",
                           expected=_safe_answer(problem), internal_error=repr(err))


def _safe_answer(problem) -> Optional[int]:
    try:
        return problem.answer
    except Exception:
        return None


def _split(tokens: list[str]):
    if "<sol>" in tokens:
        tokens = tokens[tokens.index("<sol>") + 1:]
    if "<eos>" in tokens:
        tokens = tokens[: tokens.index("<eos>")]
    has_ans = "<ans>" in tokens
    answer_tokens = tokens[tokens.index("<ans>") + 1:] if has_ans else []
    body = tokens[: tokens.index("<ans>")] if has_ans else tokens
    sentences, current = [], []
    for t in body:
        current.append(t)
        if t == ".":
            sentences.append(current[:-1])
            current = []
    return sentences, current, has_ans, answer_tokens


def _check(problem: Problem, generated) -> CheckResult:
    result = CheckResult(False, expected=problem.answer)
    sentences, tail, has_ans, answer_tokens = _split(as_token_list(generated, problem.world.vocab))
    if answer_tokens and answer_tokens[0] in _NUMBERS:
        result.answer = _NUMBERS[answer_tokens[0]]
        result.answer_correct = result.answer == problem.answer
    state = _State(problem)
    index = 0
    for sentence in sentences:
        if _is_retry(sentence):
            result.retries += 1
            continue
        try:
            state.read(sentence)
        except _Fail as fail:
            _fail_at(result, problem, fail.reason, fail.detail, index, sentence)
            return _finish(result, state, problem)
        index += 1
    result.sentences = index
    if tail and has_ans:
        _fail_at(result, problem, "malformed", "words after the last '.' before <ans>", index, tail)
    else:
        reason, detail = _end_verdict(problem, state, sentences, tail, has_ans, answer_tokens, result.answer)
        result.correct = reason is None
        _set(result, reason, detail)
    return _finish(result, state, problem)


def _end_verdict(problem, state, sentences, tail, has_ans, answer_tokens, answer):
    """(reason, detail) once every sentence was read correctly; reason None means correct."""
    if not sentences and not tail:
        return "no_solution", "nothing after <sol>"
    if tail:
        return "truncated", "the last sentence has no '.'"
    if not state.defined:
        return "no_solution", "only retries"
    if state.defined[-1] != problem.query:
        return "wrong_query", (f"the last parameter defined is {problem.name(state.defined[-1])}, "
                               f"the question asks for {problem.name(problem.query)}")
    if not has_ans or not answer_tokens:
        return "truncated", "no answer after the solution"
    if answer is None:
        return "malformed", f"<ans> is followed by {answer_tokens[0]!r}, not a number"
    if answer != problem.answer:
        return "wrong_answer", f"answer {answer}, expected {problem.answer}"
    return None, ""


def _set(result: CheckResult, reason: Optional[str], detail: str) -> CheckResult:
    result.reason, result.detail = reason, detail
    return result


def _fail_at(result, problem, reason, detail, index, sentence) -> None:
    _set(result, reason, detail)
    result.first_error_index = index
    result.sentences = index + 1
    if len(sentence) >= 4 and sentence[0] == "Define" and sentence[2] == "'s":
        result.first_error_name = to_text(sentence[1:4])
        result.first_error_param = problem.structure.index.get((sentence[1], sentence[3]))


def _finish(result: CheckResult, state: "_State", problem: Problem) -> CheckResult:
    needed = problem.necessary
    result.defined = [problem.name(p) for p in state.defined]
    extra = [p for p in state.defined if p not in needed]
    result.unnecessary = [problem.name(p) for p in extra]
    result.unnecessary_ops = sum(problem.param_op(p) for p in extra)
    return result


def _is_retry(sentence: list[str]) -> bool:
    """``Define A 's B as [BACK]`` (the name is not checked: the step is retracted anyway)."""
    return len(sentence) == 6 and sentence[0] == "Define" and sentence[2] == "'s" and sentence[4:] == ["as", "[BACK]"]


class _State:
    """What the solution has defined so far: parameters, their letters and letter values."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.defined: list[int] = []
        self.defined_set: set[int] = set()
        self.letter_of: dict[int, str] = {}
        self.param_of_letter: dict[str, int] = {}
        self.letter_value: dict[str, int] = {}
        self.used_letters: set[str] = set()

    def read(self, s: list[str]) -> None:
        problem = self.problem
        st = problem.structure
        if len(s) < 5 or s[0] != "Define" or s[2] != "'s" or s[4] != "as":
            raise _Fail("malformed", "a sentence must start with 'Define <name> as'")
        vocab = problem.world.vocab
        name = (s[1], s[3])
        if name not in st.index:
            if s[1] in vocab.item_set and (s[3] in vocab.item_set or s[3] in vocab.category_set):
                raise _Fail("unknown_param", f"{to_text(s[1:4])} is not a parameter of this problem")
            raise _Fail("malformed", f"{to_text(s[1:4])!r} is not a parameter name")
        p = st.index[name]
        if p in self.defined_set:
            raise _Fail("redefined", f"{problem.name(p)} is defined twice")
        preds = problem.preds_of(p)
        missing = [q for q in preds if q not in self.defined_set]
        if missing:
            raise _Fail("not_ready", f"{problem.name(p)} needs {problem.name(missing[0])}, not defined yet")
        if len(s) < 8 or s[6] != ";":
            raise _Fail("malformed", "expected 'as <letter> ;'")
        own = s[5]
        self._new_letter(own)
        clauses = _split_clauses(s[7:])
        local_value: dict[str, int] = {}
        local_deps: dict[str, frozenset] = {}
        for k, clause in enumerate(clauses):
            last = k == len(clauses) - 1
            if last:
                if clause[:2] != ["so", own]:
                    raise _Fail("malformed", f"the last clause must be 'so {own} = ...'")
                target, body = own, clause[2:]
            else:
                if not clause or clause[0] == "so":
                    raise _Fail("malformed", "only the last clause starts with 'so'")
                target, body = clause[0], clause[1:]
                self._new_letter(target)
                if target in local_value or target == own:
                    raise _Fail("redefined", f"letter {target} is defined twice")
            value, deps = self._evaluate(body, local_value, local_deps)
            local_value[target], local_deps[target] = value, deps
        deps, value = local_deps[own], local_value[own]
        if deps != frozenset(preds):
            raise _Fail("wrong_deps", f"{problem.name(p)} is computed from the wrong quantities")
        if value != problem.values[p]:
            raise _Fail("wrong_value", f"{problem.name(p)} = {value}, the problem says {problem.values[p]}")
        self.used_letters.update(local_value)
        self.defined.append(p)
        self.defined_set.add(p)
        self.letter_of[p] = own
        self.param_of_letter[own] = p
        self.letter_value[own] = value

    def _new_letter(self, letter: str) -> None:
        if letter not in _LETTERS:
            raise _Fail("malformed", f"expected a letter, got {letter!r}")
        if letter in self.used_letters:
            raise _Fail("redefined", f"letter {letter} was defined before")

    def _operand(self, token: str, local_value: dict, local_deps: dict):
        """(value, parameter set) of one operand: a constant, a parameter letter or a local letter."""
        if token in _NUMBERS:
            return _NUMBERS[token], frozenset()
        if token in local_value:
            return local_value[token], local_deps[token]
        if token in self.param_of_letter:
            return self.letter_value[token], frozenset((self.param_of_letter[token],))
        if token in _LETTERS:
            raise _Fail("undefined_letter", f"letter {token} is used before it is defined")
        raise _Fail("malformed", f"expected a letter or a number, got {token!r}")

    def _evaluate(self, body: list[str], local_value: dict, local_deps: dict):
        """``= a`` (constant), ``= x = v``, or ``= a op b = n op n = v`` -> (value, parameter set)."""
        modulus = self.problem.modulus
        if len(body) == 2 and body[0] == "=" and body[1] in _NUMBERS:
            return _NUMBERS[body[1]], frozenset()
        if len(body) == 4 and body[0] == "=" and body[2] == "=":
            value, deps = self._operand(body[1], local_value, local_deps)
            if body[3] not in _NUMBERS:
                raise _Fail("malformed", f"expected a number, got {body[3]!r}")
            if _NUMBERS[body[3]] != value:
                raise _Fail("arithmetic", f"{body[1]} is {value}, not {body[3]}")
            return value, deps
        if (len(body) == 10 and body[0] == "=" and body[2] in _OPS and body[4] == "=" and body[6] == body[2]
                and body[8] == "="):
            (va, da), (vb, db) = (self._operand(body[1], local_value, local_deps),
                                  self._operand(body[3], local_value, local_deps))
            if body[5] not in _NUMBERS or body[7] not in _NUMBERS or body[9] not in _NUMBERS:
                raise _Fail("malformed", "expected numbers after the symbols")
            na, nb, result = _NUMBERS[body[5]], _NUMBERS[body[7]], _NUMBERS[body[9]]
            if na != va or nb != vb:
                raise _Fail("arithmetic", f"the numbers {na} {body[2]} {nb} do not match {body[1]}, {body[3]}")
            if result != apply(body[2], na, nb, modulus):
                raise _Fail("arithmetic", f"{na} {body[2]} {nb} is not {result} (mod {modulus})")
            return result, da | db
        raise _Fail("malformed", f"cannot read the clause {' '.join(body)!r}")


def _split_clauses(tokens: list[str]) -> list[list[str]]:
    clauses, current = [], []
    for t in tokens:
        if t == ";":
            clauses.append(current)
            current = []
        else:
            current.append(t)
    clauses.append(current)
    return clauses


def check_many(problem_solutions) -> list[CheckResult]:
    """Check an iterable of (problem, generation) pairs."""
    return [check_solution(p, g) for p, g in problem_solutions]


def result_dict(result: CheckResult) -> dict:
    return result.to_dict()
