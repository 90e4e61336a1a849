"""Exercise checkers for the labs.

Every exercise cell ends with one line such as ``checks.causal_mask(causal_mask)``. A checker
runs the student's function on a few cases against plmkit's own implementation and either
raises an ``AssertionError`` that says what is wrong and how to look for the bug, or prints one
success line. A stub that still raises ``NotImplementedError`` fails with a reminder.
Checkers compare behaviour; they never reveal the solution.

One module per lab; each adds one import line below.
"""
from .base import ExerciseNotDone, checker  # noqa: F401
from .tour import causal_mask, linear_probe, rotary, step_entropy, to_close_labels  # noqa: F401  (lab 00)
from .cfg import boundary_probe, cfg_entropy_floor, cfg_membership, cfg_sampler, excess_attention  # noqa: F401  (lab 01)
from .igsm import can_next_label, first_wrong_step, mod23_evaluator, op_of_problem, probe_vs_control  # noqa: F401  (lab 02)
from .retry import back_aware_strip, equal_token_problems, paired_gain_se, retry_insertion, retry_label_mask  # noqa: F401  (lab 03)
from .knowledge import curve_rise, diagonal_gap, permute_augmentation, q_probe, qa_split  # noqa: F401  (lab 04)
from .manipulation import hint_prediction, hint_scoring, majority_name_baseline, reversed_bio, task_baselines  # noqa: F401  (lab 05)
from .canon import brevo_valid, canon_conv, canon_param_count, depo_answers, is_causal  # noqa: F401  (lab 07)
from .capacity import biod_entropy, bits_from_losses, capacity_ratios, double_counted_bits, round_to_nearest  # noqa: F401  (lab 06)
