"""Seeded random formation problems, for tests, benchmarks and demonstrations.

Agents stand on random cells of a square grid sized so that there is about one agent per
``cells_per_agent`` cells; each holds each capability with probability ``capability_density``, in an
integer amount 1..``max_capability``. Each objective targets a random cell, requires each capability with
probability 1/2 (at least one) in an amount 1..``max_requirement``, and is worth a value drawn uniformly
between ``value_per_unit`` bounds per required unit, so that serving it usually pays for a few members'
travel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from freeagentics.domain.coalitions.problem import AgentBatch, FormationProblem, Objective, Region


@dataclass(frozen=True)
class RandomProblemSettings:
    """Shape of the random problems :func:`random_formation_problem` draws."""

    num_capabilities: int = 3
    capability_density: float = 0.5
    max_capability: int = 2
    max_requirement: int = 3
    value_per_unit: tuple[float, float] = (2.0, 6.0)
    cells_per_agent: float = 1.0
    min_grid_side: int = 8

    def __post_init__(self) -> None:
        if self.num_capabilities < 1 or self.max_capability < 1 or self.max_requirement < 1:
            raise ValueError("num_capabilities, max_capability and max_requirement must be >= 1")
        if not 0 < self.capability_density <= 1:
            raise ValueError("capability_density must be in (0, 1]")
        low, high = self.value_per_unit
        if not 0 <= low <= high:
            raise ValueError("value_per_unit must be (low, high) with 0 <= low <= high")
        if self.cells_per_agent <= 0 or self.min_grid_side < 1:
            raise ValueError("cells_per_agent must be > 0 and min_grid_side >= 1")


def random_formation_problem(
    rng: np.random.Generator,
    num_agents: int,
    num_objectives: int,
    settings: RandomProblemSettings | None = None,
) -> FormationProblem:
    """A random problem with ``num_agents`` agents and ``num_objectives`` objectives drawn from ``rng``."""
    shape = RandomProblemSettings() if settings is None else settings
    side = max(shape.min_grid_side, math.ceil(math.sqrt(num_agents * shape.cells_per_agent)))
    num_capabilities = shape.num_capabilities
    positions = rng.integers(0, side, size=(num_agents, 2))
    holds = rng.random((num_agents, num_capabilities)) < shape.capability_density
    amounts = rng.integers(1, shape.max_capability + 1, size=(num_agents, num_capabilities))
    capabilities = np.where(holds, amounts, 0).astype(np.float64)
    targets = rng.integers(0, side, size=(num_objectives, 2))
    needs = rng.random((num_objectives, num_capabilities)) < 0.5
    needs[np.arange(num_objectives), rng.integers(0, num_capabilities, size=num_objectives)] = True
    required = np.where(needs, rng.integers(1, shape.max_requirement + 1, size=needs.shape), 0)
    unit_values = rng.uniform(*shape.value_per_unit, size=num_objectives)
    objectives = tuple(
        Objective(
            id=f"objective-{j}",
            target=Region.cell(int(targets[j, 0]), int(targets[j, 1])),
            required=tuple(float(a) for a in required[j]),
            value=float(unit_values[j] * required[j].sum()),
        )
        for j in range(num_objectives)
    )
    return FormationProblem(
        capability_names=tuple(f"capability-{k}" for k in range(num_capabilities)),
        objectives=objectives,
        agents=AgentBatch(positions=positions, capabilities=capabilities),
    )
