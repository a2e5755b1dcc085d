"""Multi-agent worlds of the pure core: the batched grid world, its spec, observations and objectives."""

from freeagentics.domain.world.errors import AgentLimitError, FieldError, WorldValidationError
from freeagentics.domain.world.generators import largest_connected_region, random_grid_spec
from freeagentics.domain.world.grid import GridObservations, GridWorld, StepEvents, StepResult
from freeagentics.domain.world.objectives import (
    ObjectiveRegion,
    Objectives,
    ObjectiveStatus,
    objective_status,
    region_from_mapping,
)
from freeagentics.domain.world.observations import (
    cell_content_grid,
    cell_content_observation,
    collector_observation,
    location_observation,
)
from freeagentics.domain.world.spec import GridWorldSpec, ResourcePile, spec_from_mapping

__all__ = [
    "AgentLimitError",
    "FieldError",
    "GridObservations",
    "GridWorld",
    "GridWorldSpec",
    "ObjectiveRegion",
    "ObjectiveStatus",
    "Objectives",
    "ResourcePile",
    "StepEvents",
    "StepResult",
    "WorldValidationError",
    "cell_content_grid",
    "cell_content_observation",
    "collector_observation",
    "largest_connected_region",
    "location_observation",
    "objective_status",
    "random_grid_spec",
    "region_from_mapping",
    "spec_from_mapping",
]
