import pytest
import torch

# Tests run with one torch thread: fast and identical on every machine (CI has 2 cores).
torch.set_num_threads(1)


@pytest.fixture
def tiny_config():
    from plmkit.model import GPTConfig

    return dict(vocab_size=13, context=32, n_layer=2, n_head=4, d_model=32)
