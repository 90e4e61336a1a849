"""Part 3.3, knowledge capacity: random-fact data and the bits a model provably stores about it.

Typical use::

    from plmkit.data import capacity
    data = capacity.generate_biod(capacity.preset("bioD-tiny", N=500), seed=0)
    train = capacity.biod_dataset(data, context=128, batch_size=8, seed=1)     # fresh order per exposure
    ...                                                                         # train a plmkit GPT
    m = capacity.measure_biod(model, data)                                      # one batched pass
    print(m.learned.as_dict(), m.R, m.R_max)
    m8 = capacity.measure_biod(capacity.quantize_model(model, bits=8), data, parameters=m.parameters)

Modules: ``biod`` (the bioD generator, presets, fresh-exposure streams, online bioS), ``bits`` (entropy,
losses -> bits, lower bound, capacity ratio, what P counts), ``eval_render`` (bioS bit counting with the
employer before the company city), ``compact`` (bioS-compact: the bioS people as ``name <attr> value ...``
lines, their streams, junk and bit counting), ``quantize`` (int8 / int4 round-to-nearest), ``cli``.
"""
from plmkit.data.capacity.biod import (
    EOS_ID,
    PAPER_NAME_POOLS,
    PRESETS,
    SPECIAL_TOKENS,
    BioD,
    BioDConfig,
    FreshExposures,
    RaggedLines,
    biod_dataset,
    bios_online_dataset,
    generate_biod,
    pack_ragged_lines,
    preset,
)
from plmkit.data.capacity.bits import (
    LOG2E,
    BioDLosses,
    Bits,
    Measurement,
    biod_entropy,
    biod_learned_bits,
    biod_losses,
    biod_lower_bound,
    biod_max_bits,
    bios_learned_bits,
    bios_max_bits,
    capacity_ratio,
    counted_parameters,
    log2_binomial,
    masked_sums,
    measure_biod,
    measurement_lines,
    token_losses,
)
from plmkit.data.capacity.eval_render import (
    BioSMeasurement,
    BioSRows,
    bios_losses,
    bios_used_token_ids,
    company_before_city,
    employer_first_orders,
    measure_bios,
    measurement_rows,
    render_eval_entries,
)
from plmkit.data.capacity.compact import (
    BioSCompact,
    CompactJunkWindows,
    bios_compact_dataset,
    build_compact_tokenizer,
    generate_bios_compact,
    measure_bios_compact,
)
from plmkit.data.capacity.quantize import quantization_scale, quantize_model, quantize_tensor

__all__ = [
    "EOS_ID", "PAPER_NAME_POOLS", "PRESETS", "SPECIAL_TOKENS", "BioD", "BioDConfig", "FreshExposures",
    "RaggedLines", "biod_dataset", "bios_online_dataset", "generate_biod", "pack_ragged_lines", "preset",
    "LOG2E", "BioDLosses", "Bits", "Measurement", "biod_entropy", "biod_learned_bits", "biod_losses",
    "biod_lower_bound", "biod_max_bits", "bios_learned_bits", "bios_max_bits", "capacity_ratio",
    "counted_parameters", "log2_binomial", "masked_sums", "measure_biod", "measurement_lines", "token_losses",
    "BioSMeasurement", "BioSRows", "bios_losses", "bios_used_token_ids", "company_before_city",
    "employer_first_orders", "measure_bios", "measurement_rows", "render_eval_entries",
    "BioSCompact", "CompactJunkWindows", "bios_compact_dataset", "build_compact_tokenizer", "generate_bios_compact",
    "measure_bios_compact",
    "quantization_scale", "quantize_model", "quantize_tensor",
]
