"""Pins the bytes of ``bios generate``: the speed work on plmkit/data/bios must not change any output.

The hashes were taken from the generator before it was optimised.
"""
import contextlib
import hashlib
import io

import pytest

from plmkit.data.bios.cli import run_cli

PINNED = {
    ("--n", "200", "--augment", "multi5,permute", "--seed", "0"):
        "a85fb7390e3645493d2a7fecf9beeb0a231f83ec9c08f53504e25c5d4f0f7558",
    ("--n", "200", "--augment", "multi5,permute", "--seed", "0", "--profile", "cpu"):
        "e33b39a9b99d7bb7e2d982755973944632df651af027752407b214b00b899008",
    ("--n", "200", "--seed", "3"):
        "ce8f6111ace0d3bb6be65ae827ad1c06d8635c5c9fd6f631496bbafa7dd31e54",
    ("--n", "5000", "--augment", "multi5,permute", "--seed", "0"):
        "a23e718d098f886feb7d89187d39574272a9c87499e54c9d1bccd729b21837ee",
}


@pytest.mark.parametrize("argv", list(PINNED))
def test_generate_output_is_byte_for_byte_unchanged(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run_cli(["generate", *argv]) == 0
    assert hashlib.sha256(out.getvalue().encode("utf-8")).hexdigest() == PINNED[argv]
