"""Work split over threads gives the results of the loop, in order."""

from __future__ import annotations

import numpy as np

from hxrg_denoiser.classical.channel_rows import extreme_residuals, extreme_residuals_in_blocks
from hxrg_denoiser.classical.step_test import step_jumps
from hxrg_denoiser.threads import compute_threads, map_blocks


def test_compute_threads_follows_the_environment(monkeypatch):
    monkeypatch.setenv("HXRG_THREADS", "3")
    assert compute_threads() == 3
    monkeypatch.setenv("HXRG_THREADS", "zero")
    assert 1 <= compute_threads() <= 8


def test_map_blocks_keeps_order_and_raises_the_first_error():
    assert map_blocks(lambda x: x * x, list(range(20)), threads=4) == [x * x for x in range(20)]
    assert map_blocks(lambda x: x, [], threads=4) == []

    def fail(x):
        if x == 3:
            raise ValueError("three")
        return x

    try:
        map_blocks(fail, list(range(6)), threads=2)
    except ValueError as error:
        assert str(error) == "three"
    else:
        raise AssertionError("no error raised")


def test_blocks_of_channel_rows_change_nothing():
    rng = np.random.default_rng(4)
    flat = rng.normal(100.0, 5.0, (12, 6 * 64 * 8)).astype(np.float32).cumsum(axis=0)
    expected = rng.normal(100.0, 1.0, flat.shape[1]).astype(np.float32)
    weights = rng.uniform(0.0, 1.0, flat.shape[1]).astype(np.float32)  # as the jump tests weigh pixels
    for given in (None, weights):
        whole = extreme_residuals(flat, expected, 64, given)
        for block in (64, 200, 1 << 16):
            split = extreme_residuals_in_blocks(flat, expected, 64, given, block=block)
            for a, b in zip(whole, split):
                np.testing.assert_array_equal(a, b)


def test_step_jumps_in_threads_equal_one_thread(monkeypatch):
    rng = np.random.default_rng(5)
    reads = rng.normal(0.0, 5.0, (20, 30_000)).astype(np.float32)
    reads[6:, ::97] += 30.0
    found = []
    for threads in ("1", "2"):
        monkeypatch.setenv("HXRG_THREADS", threads)
        found.append(step_jumps(reads, np.zeros(reads.shape[1]), 5.0))
    assert found[0][0].size > 250
    np.testing.assert_array_equal(found[0][0], found[1][0])
    np.testing.assert_array_equal(found[0][1], found[1][1])
