"""The demo world the embedded default starts with, so ``make run`` shows agents alive at once."""

from __future__ import annotations

import logging

import numpy as np

from freeagentics.domain.world.generators import random_grid_spec
from freeagentics.services.agents import AgentService, NewAgent

logger = logging.getLogger(__name__)

DEMO_WORLD_NAME = "demo"
DEMO_SEED = 20261127


async def ensure_demo_world(service: AgentService, explorers: int = 240, collectors: int = 60) -> bool:
    """Create the demo world and its agents unless a world named ``demo`` exists; True when created.

    A 20x20 seeded random layout with walls, resource piles and two goal cells; explorers head for the
    goals, collectors carry resources to them. The caller commits.
    """
    if await service.find_world(DEMO_WORLD_NAME) is not None:
        return False
    spec = random_grid_spec(
        np.random.default_rng(DEMO_SEED), 20, 20, wall_density=0.12, num_resource_piles=12, resource_amount=5
    )
    world = await service.create_world(None, DEMO_WORLD_NAME, spec.to_mapping(), DEMO_SEED)
    goals = [list(goal) for goal in spec.goals]
    agents = [
        NewAgent(
            name=f"explorer-{i:03d}",
            world_id=world.id,
            template="grid_explorer",
            model_spec=None,
            parameters={"goal": goals[i % len(goals)], "seed": i, "capabilities": {"explore": 1}},
        )
        for i in range(explorers)
    ] + [
        NewAgent(
            name=f"collector-{i:03d}",
            world_id=world.id,
            template="resource_collector",
            model_spec=None,
            parameters={"seed": 10_000 + i, "capabilities": {"carry": 2}},
        )
        for i in range(collectors)
    ]
    await service.create_agents(None, agents)
    logger.info("demo_world_created", extra={"fields": {"world_id": str(world.id), "agents": len(agents)}})
    return True
