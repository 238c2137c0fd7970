"""benchmarks/gan_compare/pack_run.sh: a run's checkpoint in parts and back, byte for byte."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]
_SCRIPT = _ROOT / "benchmarks" / "gan_compare" / "pack_run.sh"


def _pack(*args: str, part_bytes: str = "1000") -> subprocess.CompletedProcess:
    env = {**os.environ, "PART_BYTES": part_bytes}
    return subprocess.run(["bash", str(_SCRIPT), *map(str, args)], capture_output=True, text=True, env=env)


@pytest.fixture()
def run(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "checkpoint.pt").write_bytes(os.urandom(4500))
    (d / "config.json").write_text('{"iters": 10}')
    (d / "snapshots.csv").write_text("iter,fd_r18\n1000,7.5\n")
    (d / "samples").mkdir()  # folders are not packed
    return d


def test_pack_then_unpack_gives_the_same_checkpoint(run, tmp_path):
    dest = tmp_path / "packed"
    r = _pack(run, dest)
    assert r.returncode == 0, r.stderr
    parts = sorted(p.name for p in dest.glob("checkpoint.pt.part-*"))
    assert parts == [f"checkpoint.pt.part-{i}" for i in range(5)]  # 4500 bytes in 1000-byte parts
    assert all(p.stat().st_size <= 1000 for p in dest.glob("checkpoint.pt.part-*"))
    assert (dest / "config.json").read_text() == '{"iters": 10}'
    assert not (dest / "samples").exists() and not (dest / "checkpoint.pt").exists()

    again = tmp_path / "again"
    r = _pack("--unpack", dest, again)
    assert r.returncode == 0, r.stderr
    assert (again / "checkpoint.pt").read_bytes() == (run / "checkpoint.pt").read_bytes()
    assert (again / "snapshots.csv").read_text() == (run / "snapshots.csv").read_text()
    assert not list(again.glob("*.tmp"))


def test_repacking_replaces_the_old_parts(run, tmp_path):
    dest = tmp_path / "packed"
    assert _pack(run, dest).returncode == 0
    (run / "checkpoint.pt").write_bytes(os.urandom(1500))  # the run went on; its checkpoint shrank
    assert _pack(run, dest).returncode == 0
    assert len(list(dest.glob("checkpoint.pt.part-*"))) == 2
    assert _pack("--unpack", dest, tmp_path / "again").returncode == 0
    assert (tmp_path / "again" / "checkpoint.pt").read_bytes() == (run / "checkpoint.pt").read_bytes()


def test_unpack_refuses_a_corrupt_part_and_leaves_no_checkpoint(run, tmp_path):
    dest = tmp_path / "packed"
    assert _pack(run, dest).returncode == 0
    part = dest / "checkpoint.pt.part-2"
    data = bytearray(part.read_bytes())
    data[0] ^= 0xFF
    part.write_bytes(bytes(data))
    r = _pack("--unpack", dest, tmp_path / "again")
    assert r.returncode != 0 and "sha256 mismatch" in r.stderr
    assert not (tmp_path / "again" / "checkpoint.pt").exists()
    assert not list((tmp_path / "again").iterdir())  # nor a .tmp, nor the run's other files


def test_unpack_never_overwrites_a_checkpoint(run, tmp_path):
    dest = tmp_path / "packed"
    assert _pack(run, dest).returncode == 0
    before = (run / "checkpoint.pt").read_bytes()
    r = _pack("--unpack", dest, run)
    assert r.returncode != 0 and "exists" in r.stderr
    assert (run / "checkpoint.pt").read_bytes() == before


def test_clear_errors_for_missing_inputs(tmp_path):
    r = _pack(tmp_path / "nothing", tmp_path / "dest")
    assert r.returncode != 0 and "no checkpoint.pt" in r.stderr
    r = _pack("--unpack", tmp_path / "nothing", tmp_path / "run")
    assert r.returncode != 0 and "no checkpoint parts" in r.stderr
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "checkpoint.pt.part-0").write_bytes(b"x")
    r = _pack("--unpack", tmp_path / "parts", tmp_path / "run")
    assert r.returncode != 0 and "no checkpoint.sha256" in r.stderr
    assert not (tmp_path / "run").exists()  # nothing written before the check


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gan-v3-run", "gan-v4-run"])
def test_committed_runs_reassemble(name, tmp_path):
    src = _ROOT / "benchmarks" / "models" / "stanford-cars-64" / name
    r = _pack("--unpack", src, tmp_path / "run")
    assert r.returncode == 0, r.stderr
