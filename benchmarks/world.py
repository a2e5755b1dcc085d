"""Throughput of ``GridWorld.step``: agent-steps per second for populations on small and large grids.

Run: ``.venv/bin/python benchmarks/world.py`` (options: ``--steps``, ``--agents``, ``--sizes``, ``--seed``).

Each world is ``random_grid_spec`` with ~10 % walls (cells cut off from the main region walled too), 5 %
of the cells holding 5 resource units each and 4 goal cells, all drawn from the seed. Two action mixes
are timed: ``moves`` (explorers: the five moves) and ``mixed`` (collectors: all seven actions uniformly,
so collection contention and deposits are exercised). Actions are drawn before
timing; the clock covers only ``step`` (observations and events included). A second table times the
coalition completion check ``objective_status`` (random 1-5 x 1-5 regions, four capabilities).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from freeagentics.domain.conventions import CollectorAction, Move
from freeagentics.domain.world import GridWorld, GridWorldSpec, Objectives, objective_status, random_grid_spec


def benchmark_spec(size: int, seed: int) -> GridWorldSpec:
    return random_grid_spec(
        np.random.default_rng(seed),
        size,
        size,
        wall_density=0.1,
        num_resource_piles=size * size // 20,
        resource_amount=5,
        num_goals=4,
    )


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


def measure_objectives(
    num_agents: int, num_objectives: int, size: int, repeats: int, seed: int
) -> list[float]:
    """Seconds per ``objective_status`` call: anyone-in-region, then with a coalition assignment."""
    rng = np.random.default_rng(seed)
    positions = rng.integers(0, size, size=(num_agents, 2))
    capabilities = rng.integers(0, 3, size=(num_agents, 4)).astype(np.float64)
    corner = rng.integers(0, size - 4, size=(num_objectives, 2))
    regions = np.concatenate([corner, corner + rng.integers(0, 5, size=(num_objectives, 2))], axis=1)
    objectives = Objectives(regions=regions, required=rng.integers(0, 3, size=(num_objectives, 4)))
    assignment = rng.integers(-1, num_objectives, size=num_agents)
    results = []
    for members in (None, assignment):
        start = time.perf_counter()
        for _ in range(repeats):
            objective_status(objectives, positions, capabilities, grid_shape=(size, size), assignment=members)
        results.append((time.perf_counter() - start) / repeats)
    return results


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
        spec = benchmark_spec(size, args.seed)
        for num_agents in args.agents:
            for mix, num_actions in mixes.items():
                seconds = measure(spec, num_agents, num_actions, args.steps, args.seed)
                print(
                    f"{f'{size}x{size}':>9} {num_agents:>9,} {mix:>7} {seconds * 1e3:>9.3f} "
                    f"{num_agents / seconds:>15,.0f}"
                )

    print()
    header = f"{'objective_status (100x100, Q=4)':>32} {'anyone ms':>10} {'members ms':>11}"
    print(header)
    print("-" * len(header))
    for num_agents, num_objectives in ((1_000, 100), (10_000, 1_000)):
        anyone, members = measure_objectives(num_agents, num_objectives, 100, 20, args.seed)
        label = f"{num_agents:,} agents, {num_objectives:,} objectives"
        print(f"{label:>32} {anyone * 1e3:>10.3f} {members * 1e3:>11.3f}")


if __name__ == "__main__":
    main()
