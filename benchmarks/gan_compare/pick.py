"""Apply the snapshot-picking rule of a GAN run to its ``snapshots.csv`` (issue 14).

The rule, fixed before the v4 run ended (``benchmarks/models/stanford-cars-64/GAN-v4.md``): the pick
is the snapshot with the lowest FD-R18 among those from ``--from`` iterations on; the snapshot with
the highest fit in the same range is tested too if it is another one. Ties go to the earlier
snapshot. Prints both, and the snapshot files they name (``RUN/snapshots/iter_NNNNNNN.pt``).

    python benchmarks/gan_compare/pick.py runs/gan-stanford-cars-64-v4/snapshots.csv --from 10000
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from curves import read_run  # this folder is on sys.path when the script runs


def pick(rows: list[dict[str, float]], start: int) -> tuple[dict[str, float], dict[str, float] | None]:
    """The FD-R18 pick and the fit pick (None without a scored fit) among rows with ``iter >= start``."""
    rows = [r for r in rows if r["iter"] >= start and math.isfinite(r["fd_r18"])]
    if not rows:
        raise SystemExit(f"no snapshot with an FD-R18 from iteration {start} on")
    by_fd = min(rows, key=lambda r: (r["fd_r18"], r["iter"]))
    fitted = [r for r in rows if math.isfinite(r.get("fit_psnr", math.nan))]
    by_fit = max(fitted, key=lambda r: (r["fit_psnr"], -r["iter"])) if fitted else None
    return by_fd, by_fit


def snapshot_file(csv_path: Path, iteration: float) -> Path:
    return csv_path.parent / "snapshots" / f"iter_{int(iteration):07d}.pt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("snapshots", type=Path, help="a train-gan snapshots.csv")
    ap.add_argument("--from", dest="start", type=int, default=10000,
                    help="only snapshots from this iteration on (default 10000)")
    args = ap.parse_args()
    if not args.snapshots.is_file():
        raise SystemExit(f"no file {args.snapshots}")
    by_fd, by_fit = pick(read_run(args.snapshots), args.start)
    it = int(by_fd["iter"])
    print(f"FD-R18 pick: {it} (FD-R18 {by_fd['fd_r18']:.3f}) {snapshot_file(args.snapshots, it)}")
    if by_fit is None:
        print("fit pick: none (no fit scored)")
    elif int(by_fit["iter"]) == it:
        print(f"fit pick: the same snapshot (fit {by_fit['fit_psnr']:.2f} dB)")
    else:
        f = int(by_fit["iter"])
        print(f"fit pick: {f} (fit {by_fit['fit_psnr']:.2f} dB, FD-R18 {by_fit['fd_r18']:.3f}) "
              f"{snapshot_file(args.snapshots, f)}")


if __name__ == "__main__":
    main()
