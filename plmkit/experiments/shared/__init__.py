"""Experiment code that sibling parts share.

A part never imports another part (docs/adding_a_part.md). What two parts of one family both need lives
here, one module per family: :mod:`.bios` holds the biographies family of Parts 3.1, 3.2 and 3.3
(the world, pretraining, shipped checkpoints, LoRA QA fine-tuning, QA evaluation).
"""
