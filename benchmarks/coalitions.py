"""Coalition formation benchmark: exact and scalable algorithms, time, value, bound, gap and quality ratio.

Run: ``.venv/bin/python benchmarks/coalitions.py`` (``--repeats`` timed runs per case, default 5;
``--ratio-instances`` small instances for the scalable/exact ratio, default 200; ``--only exact`` or
``--only scalable`` for one half).

Problems come from :func:`freeagentics.domain.coalitions.random_formation_problem` (one agent per grid cell
on average, 3 capabilities, objectives needing 1-3 units of 1-3 capabilities) with the default value
function (0.1 per cell travelled, 0.5 per member, coverage required). Times are medians of ``--repeats``
runs after one warm-up run (which pays the page faults of the first large allocations; its wall time is
the ``cold`` column). Wall and CPU time are both shown, with the load average, because the benchmark
machine may be shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from freeagentics.domain.coalitions import (
    AgentBatch,
    CoalitionStructure,
    FormationProblem,
    Objective,
    Region,
    ScalableSettings,
    form_coalitions_exact,
    form_coalitions_scalable,
    random_formation_problem,
)

EXACT_SIZES = (8, 12, 16, 20)
EXACT_OBJECTIVES = 6
EXACT_INSTANCES = 3
SCALABLE_CASES = ((1_000, 100), (1_000, 1_000), (10_000, 100), (10_000, 1_000))


def _timed(
    run: Callable[[], CoalitionStructure], repeats: int
) -> tuple[CoalitionStructure, float, float, float]:
    """The result, the cold (first) wall time, and the medians of ``repeats`` further wall and CPU times (s).

    CPU time (``time.process_time``) is reported beside wall time because the benchmark machine may be
    shared: other processes stretch wall time but hardly this process's CPU time.
    """
    start = time.perf_counter()
    result = run()
    cold = time.perf_counter() - start
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return result, cold, statistics.median(walls), statistics.median(cpus)


def bench_exact(repeats: int) -> list[str]:
    rows = [
        "| agents | objectives | instance | wall (s) | CPU (s) | cold wall (s) | optimum | coalitions |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for num_agents in EXACT_SIZES:
        for instance in range(EXACT_INSTANCES):
            problem = random_formation_problem(
                np.random.default_rng([num_agents, instance]), num_agents, EXACT_OBJECTIVES
            )
            result, cold, wall, cpu = _timed(lambda p=problem: form_coalitions_exact(p), repeats)
            rows.append(
                f"| {num_agents} | {EXACT_OBJECTIVES} | {instance} | {wall:.3f} | {cpu:.3f} | {cold:.3f} | "
                f"{result.total_value:.2f} | {len(result.coalitions)} |"
            )
    return rows


def _interchangeable(num_objectives: int, need: int) -> FormationProblem:
    """20 agents with one unit of one capability each; objectives needing ``need`` of them each."""
    rng = np.random.default_rng(1)
    return FormationProblem(
        capability_names=("carry",),
        objectives=tuple(
            Objective(id=f"o{j}", target=Region.cell(j, j), required=(float(need),), value=60.0)
            for j in range(num_objectives)
        ),
        agents=AgentBatch(positions=rng.integers(0, 10, size=(20, 2)), capabilities=np.ones((20, 1))),
    )


def _co_located(num_objectives: int, need: int) -> FormationProblem:
    """As :func:`_interchangeable` with every agent on one cell: equal costs too (fully interchangeable)."""
    problem = _interchangeable(num_objectives, need)
    return dataclasses.replace(
        problem, agents=AgentBatch(positions=np.full((20, 2), 4), capabilities=np.ones((20, 1)))
    )


INTERCHANGEABLE_CASES = ((6, 3), (5, 4), (4, 5), (3, 6), (3, 7), (2, 10))


def bench_exact_interchangeable(repeats: int) -> list[str]:
    rows = [
        "| agents | positions | objectives x agents needed | wall (s) | CPU (s) | optimum | coalitions |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for label, build in (("random", _interchangeable), ("one cell", _co_located)):
        for num_objectives, need in INTERCHANGEABLE_CASES:
            problem = build(num_objectives, need)
            result, _, wall, cpu = _timed(lambda p=problem: form_coalitions_exact(p), repeats)
            rows.append(
                f"| 20 | {label} | {num_objectives} x {need} | {wall:.3f} | {cpu:.3f} | "
                f"{result.total_value:.2f} | {len(result.coalitions)} |"
            )
    return rows


def _capability_classes(
    seed: int, num_classes: int, num_capabilities: int, num_objectives: int
) -> FormationProblem:
    """20 agents drawn from ``num_classes`` distinct capability rows (amounts 0-2 of ``num_capabilities``
    capabilities) at random cells of a 10 x 10 grid; objectives needing 1-4 units of some capabilities,
    worth 2-12 per unit. The shape of the random sweeps that found the subset search's worst cases."""
    rng = np.random.default_rng([seed, num_classes, num_capabilities, num_objectives])
    rows = np.array([r for r in np.ndindex(*(3,) * num_capabilities) if any(r)], dtype=np.float64)
    rows = rows[rng.permutation(len(rows))[:num_classes]]
    objectives = []
    for j in range(num_objectives):
        required = rng.integers(0, 4, size=num_capabilities).astype(np.float64)
        required[rng.integers(num_capabilities)] += 1.0
        objectives.append(
            Objective(
                id=f"o{j}",
                target=Region.cell(int(rng.integers(10)), int(rng.integers(10))),
                required=tuple(required),
                value=float(rng.uniform(2.0, 12.0) * required.sum()),
            )
        )
    return FormationProblem(
        capability_names=tuple(f"c{k}" for k in range(num_capabilities)),
        objectives=tuple(objectives),
        agents=AgentBatch(
            positions=rng.integers(0, 10, size=(20, 2)),
            capabilities=rows[rng.integers(0, len(rows), size=20)],
        ),
    )


#: (capability rows, capabilities): one capability allows only 2 distinct rows, two allow 8.
CLASS_SHAPES = ((1, 1), (2, 1), (2, 2), (4, 2), (8, 2), (4, 3), (8, 3), (12, 3), (16, 3))
CLASS_OBJECTIVES = (4, 8)
CLASS_INSTANCES = 3


def bench_exact_classes(repeats: int) -> list[str]:
    """Worst of :data:`CLASS_INSTANCES` instances per row (the target is "always under a second")."""
    rows = [
        "| agents | capability rows | capabilities | objectives | instances | worst wall (s) | "
        "worst CPU (s) | median CPU (s) | lattice points |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for num_classes, num_capabilities in CLASS_SHAPES:
        for num_objectives in CLASS_OBJECTIVES:
            walls, cpus, lattices = [], [], []
            for seed in range(CLASS_INSTANCES):
                problem = _capability_classes(seed, num_classes, num_capabilities, num_objectives)
                _, _, wall, cpu = _timed(lambda p=problem: form_coalitions_exact(p), repeats)
                walls.append(wall)
                cpus.append(cpu)
                _, sizes = np.unique(problem.agents.capabilities, axis=0, return_counts=True)
                lattices.append(str(int(np.prod(sizes + 1))))
            times = f"{max(walls):.3f} | {max(cpus):.3f} | {statistics.median(cpus):.3f}"
            rows.append(
                f"| 20 | {num_classes} | {num_capabilities} | {num_objectives} | {CLASS_INSTANCES} | "
                f"{times} | {', '.join(lattices)} |"
            )
    return rows


def bench_scalable(repeats: int) -> list[str]:
    rows = [
        "| agents | objectives | wall (s) | CPU (s) | cold wall (s) | value | bound | gap | coalitions |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for num_agents, num_objectives in SCALABLE_CASES:
        problem = random_formation_problem(
            np.random.default_rng(num_agents + num_objectives), num_agents, num_objectives
        )
        result, cold, wall, cpu = _timed(lambda p=problem: form_coalitions_scalable(p, seed=0), repeats)
        bound = "n/a" if result.upper_bound is None else f"{result.upper_bound:.2f}"
        gap = "n/a" if result.relative_gap is None else f"{100 * result.relative_gap:.2f} %"
        rows.append(
            f"| {num_agents:,} | {num_objectives:,} | {wall:.3f} | {cpu:.3f} | {cold:.3f} | "
            f"{result.total_value:.2f} | {bound} | {gap} | {len(result.coalitions)} |"
        )
    return rows


def _small_instances(count: int) -> list[FormationProblem]:
    problems = []
    for seed in range(count):
        rng = np.random.default_rng([seed, 2024])
        problems.append(random_formation_problem(rng, int(rng.integers(6, 15)), int(rng.integers(2, 6))))
    return problems


def bench_ratio(count: int) -> list[str]:
    problems = _small_instances(count)
    optima = [form_coalitions_exact(problem).total_value for problem in problems]
    rows = [
        "| scalable settings | instances | mean scalable/exact | min | optimal found | mean bound/exact |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, settings in (
        ("restarts=0", ScalableSettings(restarts=0)),
        ("default (8 restarts at this size)", ScalableSettings()),
        ("restarts=32", ScalableSettings(restarts=32)),
    ):
        ratios, bound_ratios = [], []
        for seed, (problem, optimum) in enumerate(zip(problems, optima, strict=True)):
            result = form_coalitions_scalable(problem, seed=seed, settings=settings)
            if result.total_value > optimum + 1e-9:
                raise AssertionError(f"scalable beat the optimum on instance {seed}")
            ratios.append(result.total_value / optimum if optimum > 0 else 1.0)
            if result.upper_bound is not None and optimum > 0:
                bound_ratios.append(result.upper_bound / optimum)
        optimal = sum(r >= 1 - 1e-9 for r in ratios) / len(ratios)
        rows.append(
            f"| {label} | {len(ratios)} | {statistics.mean(ratios):.4f} | {min(ratios):.3f} | "
            f"{100 * optimal:.0f} % | {statistics.mean(bound_ratios):.3f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ratio-instances", type=int, default=200)
    parser.add_argument("--only", choices=("exact", "scalable"), default=None)
    args = parser.parse_args()
    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}, load average before {os.getloadavg()[0]:.2f}"
    )
    if args.only in (None, "exact"):
        print("\n## exact, random problems\n")
        print("\n".join(bench_exact(args.repeats)))
        print("\n## exact with 20 agents of one capability row (1 timed run)\n")
        print("\n".join(bench_exact_interchangeable(1)))
        print("\n## exact with 20 agents from a few capability rows (1 timed run each)\n")
        print("\n".join(bench_exact_classes(1)))
    if args.only in (None, "scalable"):
        print("\n## scalable (greedy + local moves + exchanges, with upper bound)\n")
        print("\n".join(bench_scalable(args.repeats)))
        instances = args.ratio_instances
        print(f"\n## scalable / exact on {instances} random instances (6-14 agents, 2-5 objectives)\n")
        print("\n".join(bench_ratio(args.ratio_instances)))
    print(f"\n# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
