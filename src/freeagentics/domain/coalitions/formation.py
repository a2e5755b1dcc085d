"""One entry point for callers (the coalition coordinator, the API) that pick an algorithm by name."""

from __future__ import annotations

from enum import StrEnum

from freeagentics.domain.coalitions.exact import form_coalitions_exact
from freeagentics.domain.coalitions.problem import FormationProblem
from freeagentics.domain.coalitions.scalable import ScalableSettings, form_coalitions_scalable
from freeagentics.domain.coalitions.structure import CoalitionStructure
from freeagentics.domain.coalitions.values import CoalitionValueFunction

#: ``AUTO`` solves exactly up to this many agents (well under a second with the default value function)...
AUTO_EXACT_MAX_AGENTS = 20
#: ...and this many objectives; larger problems go to the scalable algorithm.
AUTO_EXACT_MAX_OBJECTIVES = 8


class FormationAlgorithm(StrEnum):
    """Which formation algorithm to run."""

    EXACT = "exact"
    SCALABLE = "scalable"
    #: Exact for at most :data:`AUTO_EXACT_MAX_AGENTS` agents and :data:`AUTO_EXACT_MAX_OBJECTIVES`
    #: objectives, scalable otherwise.
    AUTO = "auto"


def form_coalitions(
    problem: FormationProblem,
    value_function: CoalitionValueFunction | None = None,
    *,
    algorithm: FormationAlgorithm | str = FormationAlgorithm.AUTO,
    seed: int = 0,
    settings: ScalableSettings | None = None,
) -> CoalitionStructure:
    """Form coalitions with ``algorithm``; the structure's ``algorithm`` field names the one that ran.

    ``settings`` tunes the scalable algorithm only. Raises ``ValueError`` for an unknown algorithm name.
    """
    chosen = FormationAlgorithm(algorithm)
    if chosen is FormationAlgorithm.AUTO:
        small = (
            problem.num_agents <= AUTO_EXACT_MAX_AGENTS
            and problem.num_objectives <= AUTO_EXACT_MAX_OBJECTIVES
        )
        chosen = FormationAlgorithm.EXACT if small else FormationAlgorithm.SCALABLE
    if chosen is FormationAlgorithm.EXACT:
        return form_coalitions_exact(problem, value_function, seed=seed)
    return form_coalitions_scalable(problem, value_function, seed=seed, settings=settings)
