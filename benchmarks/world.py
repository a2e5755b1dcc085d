"""Throughput of ``GridWorld.step``: agent-steps per second for populations on small and large grids.

Run: ``.venv/bin/python benchmarks/world.py`` (options: ``--steps``, ``--agents``, ``--sizes``, ``--seed``).

Each world has ~10 % walls, ~5 % resource cells holding 5 units each and 4 goal cells, all drawn from the
seed. Two action mixes are timed: ``moves`` (explorers: the five moves) and ``mixed`` (collectors: all
seven actions uniformly, so collection contention and deposits are exercised). Actions are drawn before
timing; the clock covers only ``step`` (observations and events included).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from freeagentics.domain.conventions import CollectorAction, Move
from freeagentics.domain.world import GridWorld, GridWorldSpec, ResourcePile


def random_spec(size: int, rng: np.random.Generator) -> GridWorldSpec:
    cells = [(int(r), int(c)) for r, c in np.ndindex(size, size)]
    order = rng.permutation(len(cells))
    num_walls, num_piles, num_goals = len(cells) // 10, len(cells) // 20, 4
    walls = tuple(cells[i] for i in order[:num_walls])
    piles = tuple(ResourcePile(cell=cells[i], amount=5) for i in order[num_walls : num_walls + num_piles])
    goals = tuple(cells[i] for i in order[num_walls + num_piles : num_walls + num_piles + num_goals])
    return GridWorldSpec(height=size, width=size, walls=walls, resources=piles, goals=goals)


def measure(spec: GridWorldSpec, num_agents: int, num_actions: int, steps: int, seed: int) -> float:
    """Seconds per ``step`` (median of ``steps`` timed steps after two warm-up steps)."""
    rng = np.random.default_rng(seed)
    world = GridWorld(spec)
    world.reset(rng, num_agents=num_agents)
    actions = rng.integers(0, num_actions, size=(steps + 2, num_agents))
    world.step(actions[0])
    world.step(actions[1])
    durations = []
    for row in actions[2:]:
        start = time.perf_counter()
        world.step(row)
        durations.append(time.perf_counter() - start)
    return float(np.median(durations))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100], help="grid side lengths")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per configuration")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    mixes = {"moves": len(Move), "mixed": len(CollectorAction)}
    header = f"{'grid':>9} {'agents':>9} {'actions':>7} {'ms/step':>9} {'agent-steps/s':>15}"
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        spec = random_spec(size, np.random.default_rng(args.seed))
        for num_agents in args.agents:
            for mix, num_actions in mixes.items():
                seconds = measure(spec, num_agents, num_actions, args.steps, args.seed)
                print(
                    f"{f'{size}x{size}':>9} {num_agents:>9,} {mix:>7} {seconds * 1e3:>9.3f} "
                    f"{num_agents / seconds:>15,.0f}"
                )


if __name__ == "__main__":
    main()
