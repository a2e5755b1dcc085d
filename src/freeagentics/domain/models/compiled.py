"""The interchange format between model specs/templates and the inference engine.

A :class:`CompiledModel` holds a discrete POMDP generative model as plain NumPy arrays in pymdp's list
conventions, plus the names that make it readable. Specs and templates produce it; the engine builds its
optimised, shared representation from it (``freeagentics.domain.engine``).

Shapes (pymdp notation; ``Ns[f]`` states of factor ``f``, ``No[m]`` outcomes of modality ``m``,
``Nu[f]`` controls of factor ``f``):

- ``A[m]``: ``(No[m], *[Ns[f] for f in A_factor_list[m]])``, columns sum to 1 over axis 0.
- ``B[f]``: ``(Ns[f], Ns[f], Nu[f])`` indexed ``B[f][s_next, s, u]``, columns sum to 1 over axis 0.
  Uncontrolled factors have ``Nu[f] == 1``.
- ``C[m]``: ``(No[m],)`` log-preferences over outcomes (higher is preferred; not normalised).
- ``D[f]``: ``(Ns[f],)`` initial state prior, sums to 1.
- ``E``: ``(num_policies,)`` policy prior, or ``None`` for uniform.
- ``pA``/``pB``/``pD``: Dirichlet concentration parameters with the shapes of ``A``/``B``/``D``, or ``None``
  when that part does not learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CompiledModel:
    """A validated generative model in pymdp's list-of-arrays form (see module docstring for shapes)."""

    A: tuple[FloatArray, ...]
    B: tuple[FloatArray, ...]
    C: tuple[FloatArray, ...]
    D: tuple[FloatArray, ...]
    A_factor_list: tuple[tuple[int, ...], ...]
    control_factors: tuple[int, ...]
    policy_len: int = 1
    E: FloatArray | None = None
    policies: NDArray[np.int64] | None = None
    pA: tuple[FloatArray, ...] | None = None
    pB: tuple[FloatArray, ...] | None = None
    pD: tuple[FloatArray, ...] | None = None
    factor_names: tuple[str, ...] = ()
    state_names: tuple[tuple[str, ...], ...] = ()
    modality_names: tuple[str, ...] = ()
    observation_names: tuple[tuple[str, ...], ...] = ()
    action_names: tuple[tuple[str, ...], ...] = ()
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def num_states(self) -> tuple[int, ...]:
        return tuple(int(b.shape[0]) for b in self.B)

    @property
    def num_obs(self) -> tuple[int, ...]:
        return tuple(int(a.shape[0]) for a in self.A)

    @property
    def num_controls(self) -> tuple[int, ...]:
        return tuple(int(b.shape[2]) for b in self.B)
