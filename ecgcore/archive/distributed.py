"""More than one process: which share of the files is this process's, and waiting for the others.

Under ``torchrun`` (or any launcher that sets ``RANK`` and ``WORLD_SIZE``, e.g. ``srun`` with
those exported) each process takes the files ``files[rank::world_size]`` of the sorted file list,
which makes disjoint shards whatever each process finds already done. ``torch.distributed`` with
the gloo back-end is used only to wait for every rank (before rank 0 merges) and to gather the
per-rank summaries: the records themselves never travel between processes, each rank reads its
own files and writes its own parts, so gloo serves CPU and GPU runs alike. Without ``WORLD_SIZE``
(or with 1) nothing is initialised.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Self, TypeVar

from ecgcore.errors import ECGError

T = TypeVar("T")
# Ranks that finish early wait for the slowest one at the final barrier; a long archive needs a long wait.
BARRIER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def ranks_from_env(environ: dict[str, str] | None = None) -> Ranks:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` as torchrun sets them; a single process without them."""
    env = os.environ if environ is None else environ
    try:
        ranks = Ranks(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))
    except ValueError as exc:
        raise ECGError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them): {exc}") from None
    if ranks.world_size < 1 or not 0 <= ranks.rank < ranks.world_size:
        raise ECGError(f"RANK must be in 0..WORLD_SIZE-1; got RANK={ranks.rank}, WORLD_SIZE={ranks.world_size}")
    return ranks


def shard(items: Sequence[T], ranks: Ranks) -> list[T]:
    """This rank's share: every ``world_size``-th item from ``rank`` (disjoint, together all of them)."""
    return list(items[ranks.rank:: ranks.world_size])


class ProcessGroup:
    """``with ProcessGroup(ranks):`` gloo is up inside when there is more than one rank (and was not already)."""

    def __init__(self, ranks: Ranks):
        self.ranks = ranks
        self.owned = False

    def __enter__(self) -> Self:
        if self.ranks.distributed:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("gloo", rank=self.ranks.rank, world_size=self.ranks.world_size,
                                        timeout=BARRIER_TIMEOUT)
                self.owned = True
        return self

    def barrier(self) -> None:
        if self.ranks.distributed:
            import torch.distributed as dist

            dist.barrier()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order (on every rank)."""
        if not self.ranks.distributed:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.ranks.world_size
        dist.all_gather_object(values, value)
        return values

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            import torch.distributed as dist

            dist.destroy_process_group()
