"""The replication figure's numbers: paired hole-PSNR and accuracy differences of best against fast."""
from __future__ import annotations

import pandas as pd
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def rep():
    return load_script("benchmarks/guidance/replications.py")


def test_paired_differences_and_discordant_counts(rep):
    fast = pd.DataFrame({"method": rep.FAST, "mask": "center", "image_id": range(4),
                         "psnr_hole": [10.0, 11.0, 12.0, 13.0], "eval_correct": [True, True, False, False]})
    best = fast.assign(method=rep.BEST, psnr_hole=fast.psnr_hole + [1.0, 2.0, 1.0, 2.0],
                       eval_correct=[True, False, True, True])
    # an image only one preset has is not a pair
    extra = fast.iloc[:1].assign(image_id=9)
    got = rep.paired(pd.concat([fast, best, extra], ignore_index=True))
    assert got["n"] == 4 and got["psnr"] == pytest.approx(1.5)
    assert (got["lost"], got["gained"]) == (1, 2) and got["acc"] == pytest.approx(25.0)
    assert got["psnr_half"] > 0 and got["p"] == pytest.approx(1.0)


def test_committed_rows_give_the_published_pooled_numbers(rep):
    s = rep.summary().set_index(["images", "mask"])
    assert (s.loc[("val 300-399", "pooled"), ["lost", "gained"]] == [14, 15]).all()
    assert s.loc[("val 100-199", "pooled"), "psnr"] == pytest.approx(0.30, abs=0.005)
    assert (s.n == [100, 100, 100, 300] * 3).all()
