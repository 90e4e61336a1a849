"""Quantised weights: how much of the stored knowledge survives int8 and int4 [P3.3 §8, Res. 8].

Every weight matrix and embedding table of a trained model is rounded to ``b`` bits (round-to-nearest, one
scale per output row: :func:`plmkit.data.capacity.quantize_model`), and the model is measured again with the
same parameter count P. The paper (with GPTQ) finds int8 loses nothing, even for models holding 2 bits per
parameter, a quarter of the 8 bits each weight has; int4 loses more than half. Round-to-nearest has no error
compensation, so its int4 loss is, if anything, larger than the paper's.
"""
from __future__ import annotations

from ...data.capacity import quantize_model


def quantize_and_measure(world, model, measurement: dict, bits=(8, 4), sample=None) -> dict:
    """R before and after rounding the weights to each bit width; the parameter count stays the same."""
    rows = {"float32": {"R": measurement["R"], "learned_bits": measurement["learned"]["total"]}}
    for b in bits:
        m = world.measure(quantize_model(model, bits=b), parameters=measurement["parameters"], sample=sample)
        rows[f"int{b}"] = {"R": m["R"], "learned_bits": m["learned"]["total"],
                           "relative_change": relative_change(measurement["R"], m["R"])}
    return {"R_max": measurement["R_max"], "parameters": measurement["parameters"], "by_precision": rows}


def relative_change(before: float, after: float) -> float:
    """(after - before) / |before|; the R of a model that stores nothing is ~0, so guard the division."""
    return (after - before) / max(abs(before), 1e-9)


def quantize_points(points, bits=(8, 4), sample=None) -> dict:
    """Quantise every model of the law's sweep, keyed by its number of people."""
    return {str(p.people): quantize_and_measure(p.world, p.run.model, p.measurement, bits, sample) for p in points}
