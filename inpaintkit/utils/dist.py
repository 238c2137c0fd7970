"""The process's place in a ``torchrun`` job, read from the environment ``torchrun`` sets."""
from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["DistEnv", "dist_env"]


@dataclass(frozen=True)
class DistEnv:
    """Rank, world size and local rank of this process.

    Attributes:
        rank: global rank (``RANK``), 0 outside ``torchrun``.
        world_size: number of processes (``WORLD_SIZE``), 1 outside ``torchrun``.
        local_rank: rank on this machine (``LOCAL_RANK``), which picks the CUDA device.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process takes part (then DistributedDataParallel is used)."""
        return self.world_size > 1


def dist_env() -> DistEnv:
    """:class:`DistEnv` from ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (defaults: one process)."""
    return DistEnv(rank=int(os.environ.get("RANK", "0")),
                   world_size=int(os.environ.get("WORLD_SIZE", "1")),
                   local_rank=int(os.environ.get("LOCAL_RANK", "0")))
