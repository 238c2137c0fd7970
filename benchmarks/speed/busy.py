"""Which processes are using the CPUs right now? (quiet.sh waits for a quiet machine with this.)

    python benchmarks/speed/busy.py [--interval 3] [--threshold 10] [--exclude PID,PID]

Samples every process's CPU time twice, ``--interval`` seconds apart, and prints those that used
more than ``--threshold`` percent of one CPU meanwhile. Exit status 0 if none did, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def cpu_times() -> dict[int, tuple[float, str]]:
    out = {}
    hz = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            continue
        out[int(d.name)] = ((float(fields[11]) + float(fields[12])) / hz, cmd)  # utime + stime
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval", type=float, default=3.0)
    ap.add_argument("--threshold", type=float, default=10.0, help="percent of one CPU")
    ap.add_argument("--exclude", default="", help="comma-separated PIDs to ignore")
    args = ap.parse_args()
    skip = {int(p) for p in args.exclude.split(",") if p.strip()} | {os.getpid(), os.getppid()}
    a = cpu_times()
    time.sleep(args.interval)
    b = cpu_times()
    busy = []
    for pid, (t, cmd) in b.items():
        if pid in skip or pid not in a:
            continue
        pct = 100 * (t - a[pid][0]) / args.interval
        if pct > args.threshold:
            busy.append((pct, pid, cmd))
    for pct, pid, cmd in sorted(busy, reverse=True):
        print(f"{pid} {pct:.0f}% {cmd[:100]}")
    return 1 if busy else 0


if __name__ == "__main__":
    sys.exit(main())
