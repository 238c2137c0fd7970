"""``bench --shard I/N`` and ``inpaintkit merge``: two shards plus a merge give exactly the rows of
the unsharded run, and a merge refuses missing, unfinished, mixed or overlapping shards."""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from inpaintkit.bench import read_rows
from inpaintkit.cli import main
from inpaintkit.shards import ShardError, merge_shards, parse_shard

BASE = ["bench", "--dry-run", "--n", "3", "--iters", "2", "--masks", "center,random:0.7",
        "--baselines", "yeh,biharmonic", "--no-progress", "--no-report"]
# columns that say where and how fast a row was made, not what it holds
WHERE = {"rank", "seconds", "history_file", "images_file"}


def _run(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    _run(*BASE, "--out", str(root / "one"))
    for i in (1, 2):
        _run(*BASE, "--out", str(root / "two"), "--shard", f"{i}/2")
    return root


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4) and parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/2", "3/2", "1", "a/b", "1/0", "-1/2"):
        with pytest.raises(ShardError, match="I/N"):
            parse_shard(bad)


def test_two_shards_and_merge_equal_the_unsharded_run(runs, tmp_path):
    two = tmp_path / "two"
    shutil.copytree(runs / "two", two)
    # each shard wrote only its own files
    assert sorted(p.name for p in two.glob("rows*.jsonl")) == ["rows.rank0.jsonl", "rows.rank1.jsonl"]
    assert not (two / "meta.json").exists()
    assert {r["image_id"] for r in read_rows(two) if r["rank"] == 0} == {0, 2}
    res = _run("merge", str(two))
    assert "merged 2 shards: 12 rows" in res.output and "| mask | metric |" in res.output
    merged = {(r["image_id"], r["method"], r["mask"]): r for r in read_rows(two)}
    single = {(r["image_id"], r["method"], r["mask"]): r for r in read_rows(runs / "one")}
    assert merged.keys() == single.keys() and len(merged) == 3 * 2 * 2
    for key, r in single.items():
        m = merged[key]
        assert set(m) == set(r)
        for col in set(r) - WHERE:
            if isinstance(r[col], float):
                assert m[col] == pytest.approx(r[col], rel=1e-6, abs=1e-9), (key, col)
            else:
                assert m[col] == r[col], (key, col)
    assert sorted(p.name for p in two.glob("rows*.jsonl")) == ["rows.jsonl"]
    meta = json.loads((two / "meta.json").read_text())
    assert meta["kind"] == "inpaintkit.bench/1" and meta["status"] == "complete" and meta["rows"] == 12
    assert "shard_git_commits" not in meta  # both shards ran at one commit
    assert (two / "report" / "table.md").is_file()
    assert len(merge_shards(two, report=False, echo=None)) == 12  # merging again changes nothing


def test_merged_meta_keeps_the_shards_provenance(runs, tmp_path):
    """The code and machine that computed the rows are the shards', not the merge's: the merge's
    own are kept under "merge", and shards run at different commits are all named."""
    two = tmp_path / "two"
    shutil.copytree(runs / "two", two)
    for i, commit in ((1, "a" * 40), (2, "b" * 40)):
        path = two / f"meta.shard-{i}-of-2.json"
        shard = json.loads(path.read_text())
        path.write_text(json.dumps({**shard, "git_commit": commit, "argv": ["bench", f"--shard={i}"],
                                    "machine": {"cpu_model": f"cpu {i}"}}))
    said = []
    merge_shards(two, report=False, echo=said.append)
    meta = json.loads((two / "meta.json").read_text())
    assert meta["git_commit"] == "a" * 40 and meta["shard_git_commits"] == ["a" * 40, "b" * 40]
    assert meta["argv"] == ["bench", "--shard=1"] and meta["machine"] == {"cpu_model": "cpu 1"}
    assert meta["merge"]["git_commit"] not in ("a" * 40, "b" * 40)
    assert meta["merge"]["machine"]["cpu_count"] >= 1
    assert any("2 commits" in s for s in said)


def test_merge_refuses_a_missing_shard(runs, tmp_path):
    two = tmp_path / "two"
    shutil.copytree(runs / "two", two)
    (two / "meta.shard-2-of-2.json").unlink()
    (two / "rows.rank1.jsonl").unlink()
    res = CliRunner().invoke(main, ["merge", str(two)])
    assert res.exit_code != 0 and "shard(s) 2/2" in res.output and "Traceback" not in res.output
    assert not (two / "meta.json").exists()


def test_merge_refuses_lost_rows_and_overlapping_shards(runs, tmp_path):
    two = tmp_path / "two"
    shutil.copytree(runs / "two", two)
    lines = (two / "rows.rank1.jsonl").read_text().splitlines(keepends=True)
    (two / "rows.rank1.jsonl").write_text("".join(lines[1:]))
    with pytest.raises(ShardError, match="1 of 12 .* rows are missing"):
        merge_shards(two, report=False, echo=None)
    with open(two / "rows.rank0.jsonl", "a") as f:
        f.write(lines[0])
    (two / "rows.rank1.jsonl").write_text("".join(lines))
    with pytest.raises(ShardError, match="shards 1 and 2"):
        merge_shards(two, report=False, echo=None)


def test_merge_refuses_shards_of_another_configuration(runs, tmp_path):
    # A shard started after another's rows are on disk is refused at once (bench's one-config
    # check); two shards started side by side into an empty folder are caught by the merge.
    two = tmp_path / "two"
    shutil.copytree(runs / "two", two)
    res = CliRunner().invoke(main, [*BASE, "--out", str(two), "--shard", "2/2", "--seed", "5"])
    assert res.exit_code != 0 and "seed: 0 -> 5" in res.output
    late = tmp_path / "late"
    _run(*BASE, "--out", str(late), "--shard", "2/2", "--seed", "5")
    for name in ("meta.shard-1-of-2.json", "rows.rank0.jsonl"):
        shutil.copy(runs / "two" / name, late / name)
    two = late
    with pytest.raises(ShardError, match="seed: 0 vs 5"):
        merge_shards(two, report=False, echo=None)


def test_bad_shard_option(tmp_path):
    res = CliRunner().invoke(main, [*BASE, "--out", str(tmp_path / "x"), "--shard", "3/2"])
    assert res.exit_code != 0 and "--shard must be I/N" in res.output
    assert not (tmp_path / "x").exists()
