"""Small worlds and agents for the runtime unit tests (no database, no server)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from freeagentics.domain.world import GridWorldSpec, spec_from_mapping
from freeagentics.services.runtime.catalog import AgentBlueprint, blueprint
from freeagentics.services.runtime.core import AgentRuntime
from freeagentics.services.runtime.population import PopulationView
from freeagentics.services.runtime.world_runtime import WorldView


def small_spec(height: int = 6, width: int = 6) -> GridWorldSpec:
    return spec_from_mapping(
        {
            "height": height,
            "width": width,
            "walls": [[2, 2], [2, 3]],
            "resources": [{"cell": [1, 1], "amount": 4}, {"cell": [4, 0], "amount": 2}],
            "goals": [[height - 1, width - 1]],
        }
    )


def explorers(spec: GridWorldSpec, count: int, **parameters: Any) -> list[AgentBlueprint]:
    return [blueprint("grid_explorer", {"seed": i, **parameters}, spec) for i in range(count)]


def collectors(spec: GridWorldSpec, count: int, **parameters: Any) -> list[AgentBlueprint]:
    return [blueprint("resource_collector", {"seed": 1000 + i, **parameters}, spec) for i in range(count)]


def new_ids(count: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(count)]


def runtime_with(
    spec: GridWorldSpec,
    groups: Sequence[tuple[Sequence[uuid.UUID], Sequence[AgentBlueprint]]],
    world_id: uuid.UUID | None = None,
    seed: int = 3,
    running: bool = True,
) -> tuple[AgentRuntime, uuid.UUID]:
    runtime = AgentRuntime()
    world = world_id or uuid.uuid4()
    runtime.add_world(world, spec, seed)
    for ids, blueprints in groups:
        runtime.add_agents(world, ids, blueprints, running=running)
    runtime.apply_pending()
    return runtime, world


def agent_row(view: WorldView, agent_id: uuid.UUID) -> tuple[PopulationView, int]:
    found = view.locate(agent_id)
    assert found is not None, f"agent {agent_id} is not in the view"
    return found


def beliefs_of(view: WorldView, agent_id: uuid.UUID) -> list[np.ndarray]:
    population, row = agent_row(view, agent_id)
    return [q[row].copy() for q in population.state.qs]


def agent_snapshot(view: WorldView, agent_id: uuid.UUID) -> dict[str, Any]:
    """Everything the runtime holds for one agent, copied: beliefs, counters, position, engine arrays."""
    population, row = agent_row(view, agent_id)
    slot = int(population.slots[row])
    arrays = {name: np.array(value[row]) for name, value in _state_arrays(population).items()}
    return {
        "ticks": int(population.ticks[row]),
        "last_action": int(population.last_action[row]),
        "vfe": float(population.vfe[row]),
        "running": bool(population.running[row]),
        "position": tuple(int(v) for v in view.positions[slot]),
        "carrying": bool(view.carrying[slot]),
        "arrays": arrays,
    }


def _state_arrays(population: PopulationView) -> Mapping[str, np.ndarray]:
    from freeagentics.services.runtime import state_ops

    return state_ops.row_arrays(population.state)


def assert_same_agent(left: Mapping[str, Any], right: Mapping[str, Any]) -> None:
    for key in ("ticks", "last_action", "vfe", "running", "position", "carrying"):
        assert left[key] == right[key], key
    assert left["arrays"].keys() == right["arrays"].keys()
    for name, array in left["arrays"].items():
        np.testing.assert_array_equal(array, right["arrays"][name], err_msg=name)
