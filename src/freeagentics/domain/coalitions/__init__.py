"""Coalition formation: which agents serve which objective, exactly for small teams, at scale otherwise.

- :mod:`.problem`: objectives, agent batches and the :class:`FormationProblem` (validated, frozen).
- :mod:`.values`: the pluggable :class:`CoalitionValueFunction` protocol and the default
  :class:`CapabilityCoverageValue` (capability coverage, travel distance, coalition size).
- :mod:`.exact`: the optimal coalition structure; by capability classes (:mod:`.classes`: member counts
  per class, exact assignment costs) when agents share capability rows, else by subset dynamic
  programming and branch and bound.
- :mod:`.scalable`: greedy formation with local improvement and an upper bound, for thousands of agents.
- :mod:`.formation`: :func:`form_coalitions`, choosing the algorithm by name (or automatically).
- :mod:`.structure`: the :class:`CoalitionStructure` result and its invariants.
- :mod:`.generators`: seeded random problems for tests and benchmarks.
"""

from freeagentics.domain.coalitions.exact import MAX_EXACT_AGENTS, form_coalitions_exact
from freeagentics.domain.coalitions.formation import (
    AUTO_EXACT_MAX_AGENTS,
    AUTO_EXACT_MAX_OBJECTIVES,
    FormationAlgorithm,
    form_coalitions,
)
from freeagentics.domain.coalitions.generators import RandomProblemSettings, random_formation_problem
from freeagentics.domain.coalitions.problem import (
    AgentBatch,
    FormationProblem,
    InvalidFormationProblemError,
    Objective,
    Region,
    capability_vector,
)
from freeagentics.domain.coalitions.scalable import ScalableSettings, form_coalitions_scalable
from freeagentics.domain.coalitions.structure import (
    Coalition,
    CoalitionInvariantError,
    CoalitionStructure,
    structure_from_assignment,
    value_assignment,
)
from freeagentics.domain.coalitions.values import (
    CapabilityCoverageValue,
    CoalitionGains,
    CoalitionValueFunction,
    PartialCoverage,
    manhattan_distance_to_regions,
)

__all__ = [
    "AUTO_EXACT_MAX_AGENTS",
    "AUTO_EXACT_MAX_OBJECTIVES",
    "MAX_EXACT_AGENTS",
    "AgentBatch",
    "CapabilityCoverageValue",
    "Coalition",
    "CoalitionGains",
    "CoalitionInvariantError",
    "CoalitionStructure",
    "CoalitionValueFunction",
    "FormationAlgorithm",
    "FormationProblem",
    "InvalidFormationProblemError",
    "Objective",
    "PartialCoverage",
    "RandomProblemSettings",
    "Region",
    "ScalableSettings",
    "capability_vector",
    "form_coalitions",
    "form_coalitions_exact",
    "form_coalitions_scalable",
    "manhattan_distance_to_regions",
    "random_formation_problem",
    "structure_from_assignment",
    "value_assignment",
]
