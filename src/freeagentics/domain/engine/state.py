"""Per-agent state of a population and the diagnostics of one step (batch-first arrays only)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.integer[Any]]

#: ``PopulationState.action`` value meaning "no action taken yet": the next prior is ``D``.
NO_ACTION = -1


@dataclass(frozen=True, eq=False)
class PopulationState:
    """What differs between the ``N`` agents of a population; the model tensors are not here.

    - ``qs[f]``: ``(N, Ns[f])`` posterior over hidden-state factor ``f`` after the last step (``D`` at start).
    - ``q_pi``: ``(N, P)`` posterior over policies of the last step (``E`` at start).
    - ``action``: ``(N, F)`` int32, the action taken at the last step per factor, ``-1`` (``NO_ACTION``)
      before the first step of an episode. The next empirical prior is ``B[f][:, :, action] @ qs[f]``, or
      ``D`` after ``-1``; it is derived from these arrays, not stored.
    - Learning (present only for what the config learns, ``None`` elsewhere): ``pA[m]`` ``(N, *A[m].shape)``
      and ``A[m]`` (its expectation, used for inference); ``pB[f]`` ``(N, *B[f].shape)`` and ``B[f]``;
      ``pD[f]`` ``(N, Ns[f])``.
    - Optional per-agent overrides of the shared model: ``C[m]`` ``(N, No[m])``, ``D[f]`` ``(N, Ns[f])`` (the
      learned ``D`` lives here too).

    States are immutable values: :func:`~freeagentics.domain.engine.step` returns a new one.
    """

    qs: tuple[FloatArray, ...]
    q_pi: FloatArray
    action: IntArray
    pA: tuple[FloatArray | None, ...] | None = None
    A: tuple[FloatArray | None, ...] | None = None
    pB: tuple[FloatArray | None, ...] | None = None
    B: tuple[FloatArray | None, ...] | None = None
    pD: tuple[FloatArray | None, ...] | None = None
    C: tuple[FloatArray | None, ...] | None = None
    D: tuple[FloatArray | None, ...] | None = None

    @property
    def num_agents(self) -> int:
        return int(self.action.shape[0])

    def arrays(self) -> list[NDArray[Any]]:
        """Every per-agent array of the state."""
        out: list[NDArray[Any]] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                out.extend(v for v in value if v is not None)
            else:
                out.append(value)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes of per-agent state of the whole population."""
        return sum(int(a.nbytes) for a in self.arrays())

    @property
    def nbytes_per_agent(self) -> float:
        """Bytes of state per agent (the model tensors are shared and not counted)."""
        return self.nbytes / max(self.num_agents, 1)


@dataclass(frozen=True, eq=False)
class StepDiagnostics:
    """What one step computed, per agent (``N`` agents, ``P`` policies).

    - ``vfe``: ``(N,)`` variational free energy of the new posterior (pymdp 1.0's ``calc_vfe``: negative
      entropy + cross-entropy with the empirical prior - accuracy).
    - ``neg_efe``: ``(N, P)`` negative expected free energy (higher is better; pymdp's ``neg_efe``, SPM's G)
      ``= utility + state_info_gain + param_info_gain``.
    - ``utility``: expected log-preference of predicted outcomes, summed over the policy's steps.
    - ``state_info_gain``: expected information gain about hidden states (salience), >= 0.
    - ``param_info_gain``: expected information gain about ``A`` / ``B`` parameters (novelty); zeros unless
      ``use_param_info_gain``.
    - ``q_pi``: ``(N, P)`` posterior over policies ``softmax(gamma * neg_efe + log E)``.
    """

    vfe: FloatArray
    neg_efe: FloatArray
    utility: FloatArray
    state_info_gain: FloatArray
    param_info_gain: FloatArray
    q_pi: FloatArray
