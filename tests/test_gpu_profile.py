"""The ``gpu`` profile of Parts 3.1 and 3.2, dry-run on CPU: no GPU is needed to catch a broken setting.

The tests render every augmentation row and every task at the profile's sizes, and take one pretraining and
one fine-tuning step with the profile's real model; the numbers the profile produces can only be measured on a GPU
(``python -m plmkit reproduce knowledge --profile gpu``).
"""
import pytest
import torch

from plmkit.data import bios
from plmkit.experiments import knowledge as K
from plmkit.experiments import manipulation as M
from plmkit.experiments.common import RunContext


@pytest.fixture(scope="module")
def ctx():
    return RunContext(profile="gpu", device="cpu", progress=False)


@pytest.fixture(scope="module")
def world(ctx):
    return K.make_world(ctx)


def test_every_gpu_augmentation_row_renders_and_the_gpu_model_trains_a_step(world, ctx):
    s = K.settings(ctx)
    assert len(s.augmentations) >= 5  # enough rows to compare with the rank order of [3.1 Fig. 3]
    for augmentation in s.augmentations:
        data = K.make_bio_data(world, 40, augmentation, seed=0)
        assert all(len(es) >= 1 for es in data.entries)
    data = K.make_bio_data(world, 40, s.augmentations[-1], seed=0)
    model, history = K.pretrain(ctx, world, data, 1, "dry", s.sizes, steps=1)
    assert model.config.context == s.sizes.context and len(history.loss) == 1
    tuned, ft = K.finetune_qa(ctx, world, model, bios.qa_pairs(data.group("train")), "dry", s.sizes, steps=1)
    assert len(ft.loss) == 1 and torch.isfinite(torch.tensor(ft.loss)).all()


def test_every_gpu_manipulation_task_encodes_with_the_shared_vocabulary(ctx, world):
    tasks = M.settings(ctx).tasks
    data = M.make_data(world, 40, 20, seed=0)
    people = data.forward("train")
    mix = M.training_mix(tasks, people, n_pairs=50, hint_prob=0.5, seed=0)
    assert {qa.task for qa in mix} >= set(tasks)
    for qa in mix:  # raises on a word the tokenizer does not know
        world.tokenizer.encode(qa.prompt + qa.completion)
    for task in tasks:
        assert M.task_examples(task, data.forward("test"), n_pairs=20, seed=1, mode=None)
