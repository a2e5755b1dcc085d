"""Batched discrete active inference for populations of agents that share one generative model.

Pure NumPy (and the standard library). Every array is batch-first: ``N`` agents along axis 0. The model
tensors (``A``, ``B``, ``C``, ``D``, ``E``) live once in a :class:`GenerativeModel`; the per-agent
:class:`PopulationState` holds only beliefs, the policy posterior, the last action and — for what is
learned — Dirichlet counts.

Public API
----------

- :class:`GenerativeModel` — frozen, shared model. ``GenerativeModel.from_compiled(compiled_model)`` (specs
  and templates, :mod:`freeagentics.domain.models`) or ``GenerativeModel.from_arrays(A=..., B=..., C=...,
  D=..., E=..., A_factor_list=..., policy_len=..., pA=..., pB=..., pD=...)`` with pymdp-style lists of arrays.
  Deterministic (0/1) ``B`` are also kept as next-state tables (``transition_tables``); policies are
  pymdp's enumeration unless given.
- :class:`EngineConfig` — frozen settings: ``num_iter``, ``tolerance``, ``gamma``, ``alpha``,
  ``action_selection`` (``"deterministic"`` | ``"stochastic"``), ``sampling_mode`` (``"marginal"`` |
  ``"full"``), which EFE terms to use, learning flags/rates/which modalities and factors learn, ``dtype``
  (``"float32"`` | ``"float64"``), ``semantics`` (``"pymdp"``: pymdp 1.0 | ``"legacy"``: ``pymdp.legacy``).
- :class:`PopulationState` — per-agent arrays: ``qs[f]`` ``(N, Ns[f])``, ``q_pi`` ``(N, P)``, ``action``
  ``(N, F)`` (``-1`` = none yet), learned ``pA``/``A``, ``pB``/``B``, ``pD``/``D``, optional per-agent
  ``C``/``D``. ``nbytes_per_agent`` reports its size.
- :class:`StepDiagnostics` — per agent: ``vfe`` ``(N,)``; ``neg_efe``, ``utility``, ``state_info_gain``,
  ``param_info_gain``, ``q_pi`` ``(N, P)``.
- :func:`init_population` ``(model, config, n_agents, *, C=None, D=None) -> PopulationState``.
- :func:`step` ``(model, config, state, observations (N, M) int, rng=None) -> (state, actions (N, F),
  diagnostics)``.
- :func:`reset_agents` ``(model, config, state, agents=None)`` — new episode (prior ``D`` next step).
- :func:`set_preferences` ``(model, state, modality, C, agents=None)`` — per-agent preferences.
- :func:`empirical_prior` ``(model, config, state)`` — each agent's prior for its next step.

Conventions and signs
---------------------

One step does, for every agent at once (the order of pymdp 1.0's ``rollout``):

1. prior ``= B[f][:, :, a] @ qs[f]`` for the action ``a`` taken last step, ``D[f]`` at an episode's start;
2. posterior ``qs`` by fixed-point iteration (exact in one pass with one factor; ``num_iter`` mean-field
   sweeps otherwise, optionally stopped per agent at ``tolerance`` on the free-energy change);
3. ``neg_efe[π] = Σ_t Σ_m (utility + state info gain + parameter info gain)``, with ``utility = qo · C``,
   ``state info gain = H[qo] - E_qs[H[A]]`` and the Dirichlet novelty of ``pA``/``pB``; higher is better;
   ``q_pi = softmax(gamma * neg_efe + log E)``;
4. learning: ``pA[m][o_m, ...] += lr_pA * qs`` (joint over the modality's factors) every step;
   ``pB[f][:, :, a] += lr_pB * qs[f] ⊗ qs_prev[f]`` after an action; ``pD[f] += lr_pD * qs[f]`` at an
   episode's first step; the expected ``A``/``B``/``D`` are the normalised counts;
5. action: the arg-max (or an ``alpha``-sharpened sample) of ``q_pi`` marginalised onto each control
   factor's first action (``sampling_mode="marginal"``) or of ``q_pi`` itself (``"full"``).

Deterministic selection takes the first option within 64 machine epsilons of the maximum, so options that
tie in exact arithmetic stay tied whatever the rounding. Randomness comes only from the
``numpy.random.Generator`` given to :func:`step` (stochastic action selection): same seed, model,
config and observations, same results.

Performance: policies sharing a prefix share its predictions (a policy trie); with deterministic ``B``,
prefixes that move beliefs identically are merged too. When no agent learns ``A`` or ``B`` (pymdp 1.0
semantics), every predicted outcome and the linear EFE terms of every policy come from one matrix product
per modality with a table precomputed per model (``GenerativeModel.composites``). Large populations are
split into chunks of agents that run on a thread pool (``EngineConfig.num_threads``); the split depends
only on the model, the config and ``N``, so results do not depend on the thread count. Set
``OPENBLAS_NUM_THREADS=1`` in processes that step large populations: the engine already uses the cores.

Where pymdp's two implementations differ, ``semantics="pymdp"`` follows the 1.0 JAX agent and
``semantics="legacy"`` follows ``pymdp.legacy``: legacy normalises ``C`` as ``log(softmax(C) + 1e-16)`` (a
constant offset of ``-policy_len * Σ_m logsumexp(C_m)`` in ``neg_efe``, ``q_pi`` unchanged), takes
``log(x + 1e-16)`` instead of ``log(max(x, eps))``, leaves states with probability ``<= exp(-16)`` out of the
state information gain and adds ``exp(-16)`` inside its logs, uses the heuristic ``1/Σα - 1/α`` novelty
weights, adds counts only where the current ``A``/``B`` is non-zero, and starts learned ``A``/``B`` from the
normalised counts rather than the given ``A``/``B``.
"""

from freeagentics.domain.engine.config import EngineConfig
from freeagentics.domain.engine.model import GenerativeModel
from freeagentics.domain.engine.population import (
    empirical_prior,
    init_population,
    reset_agents,
    set_preferences,
    step,
)
from freeagentics.domain.engine.state import NO_ACTION, PopulationState, StepDiagnostics

__all__ = [
    "NO_ACTION",
    "EngineConfig",
    "GenerativeModel",
    "PopulationState",
    "StepDiagnostics",
    "empirical_prior",
    "init_population",
    "reset_agents",
    "set_preferences",
    "step",
]
