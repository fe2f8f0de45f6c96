import numpy as np
import pytest

from edgebench.machine import memory


def test_peak_rss_covers_only_what_follows_a_reset():
    if not memory.reset_peak_rss():
        pytest.skip("this kernel does not allow resetting the peak RSS mark")
    before = memory.peak_rss_mb()
    block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
    after = memory.peak_rss_mb()
    del block
    assert after - before > 150
    memory.reset_peak_rss()
    assert memory.peak_rss_mb() < after - 100
