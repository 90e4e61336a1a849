"""How many bits of knowledge a model provably stores, computed from its losses [P3.3 §2-4].

The recipe of Part 3.3:

1. The data's own size in bits is known in closed form, because every fact was drawn at random
   (:func:`biod_entropy`, [P3.3 Prop. 2.3]).
2. Three losses of the trained model, all in nats and all **sums over a name's or a value's tokens**,
   never per-token means [P3.3 Remark 3.1]:
   ``p1`` = loss_name, the name's tokens at the start of a person's text;
   ``p2`` = loss_value, a value's tokens given the name and the attribute;
   ``p3`` = loss_value1, the first chunk (L tokens) of a value.
   :func:`biod_losses` and :func:`masked_sums` turn per-token loss arrays into these, batched.
3. Turn losses into bits. Each term counts what the model knows beyond a uniform guess:
   name bits ``N*log2(N0 / e^p1)``, value bits ``N*K*log2(D^C / e^p2)``, diversity bits
   ``K*D*log2(T^L / (D*e^p3))`` ([P3.3 Def. 4.1], :func:`biod_learned_bits`); Theorem 3.2's lower bound
   on the model's bit size replaces N0 by N0 - N and T^L by T^L - D (:func:`biod_lower_bound`).
   A perfect model (p1 = ln N, p2 = p3 = 0) reaches :func:`biod_max_bits`, the numerator of R^max.
   A term is negative when the model is worse than the uniform guess that term assumes (common early in
   training); it is reported as it is, never clamped.
4. Divide by P, the parameters that count [P3.3 App. A] (:func:`counted_parameters`):
   ``R = bits / P``; the paper finds R ~ 2 after 1000 exposures [P3.3 Res. 1].

For bioS text the value term is over the per-person value space S0 instead, and there is no diversity
term [P3.3 Def. 4.3] (:func:`bios_learned_bits`; rendering and masks in ``eval_render``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from plmkit.data.capacity.biod import EOS_ID, TAG_ID, BioD, BioDConfig

LOG2E = 1.0 / math.log(2.0)  # bits per nat
ArrayLike = Union[np.ndarray, torch.Tensor]


# --------------------------------------------------------------------------------------------------
# Bit counts
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bits:
    """A bit count split into its three terms (diversity is 0 for bioS)."""

    name: float
    value: float
    diversity: float = 0.0

    @property
    def total(self) -> float:
        return self.name + self.value + self.diversity

    def ratio(self, parameters: int) -> float:
        """Bits per parameter: R for learned bits, R^max for the data's bits [P3.3 Def. 4.1]."""
        return capacity_ratio(self.total, parameters)

    def as_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "diversity": self.diversity, "total": self.total}


def capacity_ratio(bits: float, parameters: int) -> float:
    """R = bits / P."""
    if parameters <= 0:
        raise ValueError(f"the parameter count must be positive, got {parameters}")
    return float(bits) / parameters


def log2_binomial(n: int, k: int) -> float:
    """log2 of the binomial coefficient C(n, k), for exact integers n as large as T^L gets.

    Summed as log2(n - i) - log2(k - i) over i < k (in blocks, vectorised); cancellation-free, unlike a
    difference of log-gamma values when n is much larger than k.
    """
    n, k = int(n), int(k)
    if not 0 <= k <= n:
        raise ValueError(f"C(n, k) needs 0 <= k <= n, got n={n}, k={k}")
    k = min(k, n - k)
    log2_n = math.log2(n) if n > 0 else 0.0
    total, block = 0.0, 1 << 20
    for start in range(0, k, block):
        i = np.arange(start, min(k, start + block), dtype=np.float64)
        # log2(n - i) = log2 n + log2(1 - i/n); i/n is computed in floats (n may exceed 2^1024 only as a
        # Python int, and then i/n underflows harmlessly to 0).
        frac = i / float(n) if n < 2 ** 1000 else np.zeros_like(i)
        total += len(i) * log2_n + float(np.log1p(-frac).sum()) * LOG2E - float(np.log2(i + 1).sum())
    return total


def biod_entropy(config: BioDConfig) -> Bits:
    """The data's entropy in bits, exactly [P3.3 Prop. 2.3]: which N names were drawn,
    log2 C(N0, N); every person's C chunks per attribute, N*K*C*log2 D; and the K pools,
    K*log2 C(T^L, D). No model can store more than this about the data."""
    return Bits(
        name=log2_binomial(config.N0, config.N),
        value=config.N * config.K * config.C * math.log2(config.D),
        diversity=config.K * log2_binomial(config.strings_per_chunk, config.D),
    )


def biod_max_bits(config: BioDConfig) -> Bits:
    """What a perfect model stores by Def. 4.1 (numerator of R^max, lower-order terms dropped):
    N*log2(N0/N) + N*K*C*log2 D + K*D*log2(T^L/D). Slightly below :func:`biod_entropy`."""
    return biod_learned_bits(config, p1=math.log(config.N), p2=0.0, p3=0.0)


def _log2_int(x: int) -> float:
    return math.log2(int(x))


def biod_learned_bits(config: BioDConfig, p1: float, p2: float, p3: float) -> Bits:
    """Bits a model with mean losses p1, p2, p3 (nats) stores [P3.3 Def. 4.1].

    p1 is per name; p2 and p3 are per (name, attribute) pair, so the value and diversity terms are
    multiplied by N*K and K*D.
    """
    log2_pool_share = _log2_int(config.strings_per_chunk) - math.log2(config.D)
    return Bits(
        name=config.N * (math.log2(config.N0) - p1 * LOG2E),
        value=config.N * config.K * (config.C * math.log2(config.D) - p2 * LOG2E),
        diversity=config.K * config.D * (log2_pool_share - p3 * LOG2E),
    )


def biod_lower_bound(config: BioDConfig, p1: float, p2: float, p3: float) -> Bits:
    """Theorem 3.2's lower bound on log2 |W| (the bits in the weights) without its o(.) terms:
    N*log2((N0-N)/e^p1) + N*K*log2(D^C/e^p2) + K*D*log2((T^L-D)/(D*e^p3)) [P3.3 Thm. 3.2].

    The theorem assumes N >= Omega(D log N). The three terms must all be added [P3.3 Remark 3.4].
    """
    return Bits(
        name=config.N * (_log2_int(config.N0 - config.N) - p1 * LOG2E) if config.N0 > config.N else float("-inf"),
        value=config.N * config.K * (config.C * math.log2(config.D) - p2 * LOG2E),
        diversity=config.K * config.D * (_log2_int(config.strings_per_chunk - config.D) - math.log2(config.D)
                                         - p3 * LOG2E) if config.strings_per_chunk > config.D else float("-inf"),
    )


def bios_max_bits(n_people: int, name_space: int, log2_S0: float) -> Bits:
    """Numerator of R^max for bioS: N*log2(N0/N) + N*log2 S0 [P3.3 Def. 4.3]."""
    return bios_learned_bits(n_people, name_space, log2_S0, p1=math.log(n_people), p2=0.0)


def bios_learned_bits(n_people: int, name_space: int, log2_S0: float, p1: float, p2: float) -> Bits:
    """Bits stored about bioS people [P3.3 Def. 4.3]: N*log2(N0/e^p1) + N*log2(S0/e^p2).

    p2 is the per-person *sum* of the value losses over birth date, birth city, university, major,
    employer and gender (company city excluded: the employer determines it) [P3.3 §4 fn 12].
    """
    return Bits(name=n_people * (math.log2(name_space) - p1 * LOG2E), value=n_people * (log2_S0 - p2 * LOG2E))


# --------------------------------------------------------------------------------------------------
# From per-token losses to p1, p2, p3 (batched, no loop over people)
# --------------------------------------------------------------------------------------------------
def _as_float_array(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def masked_sums(token_loss: ArrayLike, mask: ArrayLike) -> np.ndarray:
    """Per-row sums of the token losses where ``mask`` is set: (B, S) x (B, S) -> (B,)."""
    loss, keep = _as_float_array(token_loss), _as_float_array(mask) != 0
    if loss.shape != keep.shape:
        raise ValueError(f"token_loss shape {loss.shape} differs from mask shape {keep.shape}")
    return np.where(keep, loss, 0.0).sum(axis=1)


@dataclass(frozen=True)
class BioDLosses:
    """Per-person and per-(person, attribute) summed losses in nats."""

    name: np.ndarray  # (n,)        p1 per person
    value: np.ndarray  # (n, K)     p2 per person and attribute
    value1: np.ndarray  # (n, K)    p3 per person and attribute

    @property
    def p1(self) -> float:
        return float(self.name.mean())

    @property
    def p2(self) -> float:
        return float(self.value.mean())

    @property
    def p3(self) -> float:
        return float(self.value1.mean())


def biod_losses(token_loss: ArrayLike, value_positions: ArrayLike, name_length: int, chunk_length: int) -> BioDLosses:
    """Sum token losses into name, value and first-chunk losses.

    ``token_loss`` (n, S): column t is the loss of line token t given everything before it (the line
    preceded by ``<eos>``). ``value_positions`` (n, K, C*L) are the value tokens' columns (from
    :meth:`BioD.value_positions`); the name is columns 0 .. name_length-1.
    """
    loss = _as_float_array(token_loss)
    pos = np.asarray(value_positions, dtype=np.int64)
    if loss.ndim != 2 or pos.ndim != 3 or pos.shape[0] != loss.shape[0]:
        raise ValueError(f"expected token_loss (n, S) and value_positions (n, K, C*L); got {loss.shape}, {pos.shape}")
    if not 1 <= chunk_length <= pos.shape[2] or pos.shape[2] % chunk_length:
        raise ValueError(f"chunk_length={chunk_length} must divide the value length {pos.shape[2]}")
    n, k, v = pos.shape
    values = np.take_along_axis(loss, pos.reshape(n, k * v), axis=1).reshape(n, k, v)
    return BioDLosses(name=loss[:, :name_length].sum(axis=1), value=values.sum(axis=2),
                      value1=values[:, :, :chunk_length].sum(axis=2))


# --------------------------------------------------------------------------------------------------
# Running a model
# --------------------------------------------------------------------------------------------------
LogitsFn = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def token_losses(model: Union[torch.nn.Module, LogitsFn], tokens: ArrayLike, batch_size: int = 256,
                 device: Optional[Union[str, torch.device]] = None) -> np.ndarray:
    """Per-token cross-entropy (nats) of ``tokens`` (B, S): column t is -log p(tokens[:, t+1] | tokens[:, :t+1]).

    ``model`` is a plmkit GPT (or any module returning ``.logits``) or a function from inputs (b, S-1) to
    logits (b, S-1, vocab), e.g. a hand-written "model" in a test. One forward pass per batch of rows.
    """
    tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
    if tokens.dim() != 2 or tokens.shape[1] < 2:
        raise ValueError(f"tokens must have shape (batch, time >= 2), got {tuple(tokens.shape)}")
    is_module = isinstance(model, torch.nn.Module)
    if device is None:
        device = next(model.parameters()).device if is_module else torch.device("cpu")
    was_training = model.training if is_module else False
    if is_module:
        model.eval()
    out = np.empty((tokens.shape[0], tokens.shape[1] - 1), dtype=np.float32)
    try:
        for start in range(0, tokens.shape[0], batch_size):
            chunk = tokens[start:start + batch_size].to(device)
            result = model(chunk[:, :-1])
            logits = result.logits if hasattr(result, "logits") else result
            loss = F.cross_entropy(logits.float().transpose(1, 2), chunk[:, 1:], reduction="none")
            out[start:start + batch_size] = loss.cpu().numpy()
    finally:
        if is_module:
            model.train(was_training)
    return out


def counted_parameters(model: torch.nn.Module, used_token_ids: Iterable[int]) -> int:
    """P as Part 3.3 counts it [P3.3 App. A]: every trainable parameter, except the embedding rows (input,
    and output when untied) of tokens that never occur in the training data; tied embeddings count once.
    Quantised copies keep the same P."""
    counts = model.param_counts(used_token_ids=used_token_ids)
    return int(counts["used"])


@dataclass(frozen=True)
class Measurement:
    """One model measured on one dataset: losses, learned bits, the data's bits and the ratios."""

    losses: BioDLosses
    learned: Bits  # Def. 4.1
    lower_bound: Bits  # Thm. 3.2 without o(.) terms
    max_bits: Bits  # a perfect model's Def. 4.1 bits
    parameters: int
    people_measured: int

    @property
    def R(self) -> float:
        return self.learned.ratio(self.parameters)

    @property
    def R_max(self) -> float:
        return self.max_bits.ratio(self.parameters)

    def as_dict(self) -> dict:
        return {"p1": self.losses.p1, "p2": self.losses.p2, "p3": self.losses.p3,
                "learned": self.learned.as_dict(), "lower_bound": self.lower_bound.as_dict(),
                "max_bits": self.max_bits.as_dict(), "parameters": self.parameters, "R": self.R,
                "R_max": self.R_max, "people_measured": self.people_measured}


def measurement_lines(data: BioD, seed: int = 0, people: Optional[np.ndarray] = None,
                      tag: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Token rows ``<eos> [<tag>] line`` for measuring, in a seeded random attribute order (the training
    distribution), and the value positions within each line."""
    rng = np.random.default_rng(seed)
    people = np.arange(data.config.N) if people is None else np.asarray(people, dtype=np.int64)
    orders = data.draw_orders(rng, len(people))
    prefix = np.array([EOS_ID, TAG_ID] if tag else [EOS_ID], dtype=np.int64)
    rows = np.concatenate([np.broadcast_to(prefix, (len(people), len(prefix))), data.render(orders, people)], axis=1)
    return rows, data.value_positions(orders)


def measure_biod(model: Union[torch.nn.Module, LogitsFn], data: BioD, *, parameters: Optional[int] = None,
                 seed: int = 0, sample: Optional[int] = None, batch_size: int = 256, tag: bool = False,
                 device: Optional[Union[str, torch.device]] = None) -> Measurement:
    """Measure a model on a bioD dataset in one batched pass over the people.

    ``sample`` limits the measurement to a seeded random subset of people (the bits still refer to all
    N, using the subset's mean losses). ``parameters`` defaults to :func:`counted_parameters`. ``tag``:
    the model was trained on ``<tag>``-prefixed lines, so the name is read after ``<eos> <tag>``.
    """
    cfg = data.config
    people = None
    if sample is not None and sample < cfg.N:
        people = np.sort(np.random.default_rng([seed, 1]).choice(cfg.N, size=sample, replace=False))
    rows, positions = measurement_lines(data, seed, people, tag)
    per_token = token_losses(model, rows, batch_size, device)[:, int(tag):]  # column t = line token t
    losses = biod_losses(per_token, positions, cfg.name_length, cfg.L)
    if parameters is None:
        if not isinstance(model, torch.nn.Module):
            raise ValueError("pass parameters=... when measuring a logits function instead of a model")
        used = data.used_token_ids()
        parameters = counted_parameters(model, np.append(used, TAG_ID) if tag else used)
    return Measurement(losses=losses, learned=biod_learned_bits(cfg, losses.p1, losses.p2, losses.p3),
                       lower_bound=biod_lower_bound(cfg, losses.p1, losses.p2, losses.p3),
                       max_bits=biod_max_bits(cfg), parameters=int(parameters), people_measured=len(rows))
