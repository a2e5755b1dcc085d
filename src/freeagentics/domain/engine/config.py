"""Engine configuration: how a population infers, plans, acts and learns (shared by every agent of it)."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Semantics = Literal["pymdp", "legacy"]
ActionSelection = Literal["deterministic", "stochastic"]
SamplingMode = Literal["marginal", "full"]
DType = Literal["float32", "float64"]
Accelerator = Literal["numpy", "numba"]


def accelerator_available(name: str) -> bool:
    """Whether the optional accelerator ``name`` can be imported here (``"numpy"`` always can)."""
    return name == "numpy" or importlib.util.find_spec(name) is not None


def _check_indices(name: str, value: tuple[int, ...] | None) -> None:
    if value is None:
        return
    if not isinstance(value, tuple) or not all(isinstance(i, int) and i >= 0 for i in value):
        raise ValueError(f"EngineConfig.{name} must be None or a tuple of non-negative ints, got {value!r}")


@dataclass(frozen=True)
class EngineConfig:
    """Inference, planning, action and learning settings (frozen, validated on construction).

    Inference (fixed-point iteration, pymdp's ``fpi`` / legacy ``VANILLA``):

    - ``num_iter``: iterations of the mean-field update for models with several hidden-state factors. A
      model with one factor is solved exactly in one pass, as in pymdp.
    - ``tolerance``: stop an agent's iterations once its variational free energy changes by less than this
      (pymdp legacy's ``dF_tol``); ``None`` always runs ``num_iter`` iterations (pymdp 1.0).

    Planning and action:

    - ``gamma``: policy precision; ``q_pi = softmax(gamma * neg_efe + log E)``.
    - ``alpha``: action precision for stochastic selection: ``P(u) ∝ marginal(u) ** alpha``.
    - ``action_selection``: ``"deterministic"`` (arg-max, first index on ties, as pymdp 1.0) or
      ``"stochastic"`` (sampled with the ``numpy.random.Generator`` passed to ``step``).
    - ``sampling_mode``: ``"marginal"`` marginalises ``q_pi`` over each control factor's first action (pymdp's
      ``sample_action``); ``"full"`` picks a whole policy and takes its first action (``sample_policy``).
    - ``use_utility`` / ``use_states_info_gain`` / ``use_param_info_gain``: which terms enter ``neg_efe``.

    Learning (Dirichlet, per agent; only the learned parts are stored per agent):

    - ``learn_A`` / ``learn_B`` / ``learn_D`` with rates ``lr_pA`` / ``lr_pB`` / ``lr_pD``;
    - ``modalities_to_learn`` / ``factors_to_learn`` / ``factors_to_learn_D``: ``None`` means every
      modality/factor for which the model has ``pA`` / ``pB`` / ``pD``.

    Numerics:

    - ``dtype``: ``"float32"`` for throughput, ``"float64"`` for parity with pymdp.
    - ``semantics``: ``"pymdp"`` follows pymdp 1.0's JAX agent where the two pymdp implementations differ;
      ``"legacy"`` follows ``pymdp.legacy`` (the engine's module docstring lists the differences:
      C normalised by log-softmax, ``log(x + 1e-16)``, SPM's information-gain epsilons, the heuristic
      ``spm_wnorm``, counts only where the current parameters are non-zero, stored ``A``/``B`` replaced by the
      normalised Dirichlet counts at start).
    - ``num_threads``: worker threads that split the agent axis for large populations (``None``: one per CPU,
      at most 8). Results do not depend on it.
    - ``accelerator``: ``"numpy"`` (always available) or ``"numba"`` (the optional ``accel`` extra): compiled
      kernels for the shared-tensor fast path that visit only the non-negligible entries of the beliefs and
      the non-zero entries of the model's composite tables. Belief entries below one machine epsilon of
      mass in all are skipped, so results agree with the NumPy path to the working precision (the tests
      hold the two together). Where the fast path does not apply (learning ``A``/``B``, legacy semantics)
      the NumPy path runs.
    """

    num_iter: int = 16
    tolerance: float | None = None
    gamma: float = 16.0
    alpha: float = 16.0
    action_selection: ActionSelection = "deterministic"
    sampling_mode: SamplingMode = "marginal"
    use_utility: bool = True
    use_states_info_gain: bool = True
    use_param_info_gain: bool = False
    learn_A: bool = False
    learn_B: bool = False
    learn_D: bool = False
    lr_pA: float = 1.0
    lr_pB: float = 1.0
    lr_pD: float = 1.0
    modalities_to_learn: tuple[int, ...] | None = None
    factors_to_learn: tuple[int, ...] | None = None
    factors_to_learn_D: tuple[int, ...] | None = None
    dtype: DType = "float32"
    semantics: Semantics = "pymdp"
    num_threads: int | None = None
    accelerator: Accelerator = "numpy"

    def __post_init__(self) -> None:
        if not isinstance(self.num_iter, int) or self.num_iter < 1:
            raise ValueError(f"EngineConfig.num_iter must be a positive int, got {self.num_iter!r}")
        if self.tolerance is not None and not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(
                f"EngineConfig.tolerance must be None or a finite float >= 0, got {self.tolerance!r}"
            )
        for name in ("gamma", "alpha", "lr_pA", "lr_pB", "lr_pD"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"EngineConfig.{name} must be a finite number >= 0, got {value!r}")
        if self.action_selection not in ("deterministic", "stochastic"):
            raise ValueError(
                f"EngineConfig.action_selection must be 'deterministic' or 'stochastic', got "
                f"{self.action_selection!r}"
            )
        if self.sampling_mode not in ("marginal", "full"):
            raise ValueError(
                f"EngineConfig.sampling_mode must be 'marginal' or 'full', got {self.sampling_mode!r}"
            )
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"EngineConfig.dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.semantics not in ("pymdp", "legacy"):
            raise ValueError(f"EngineConfig.semantics must be 'pymdp' or 'legacy', got {self.semantics!r}")
        if self.num_threads is not None and (not isinstance(self.num_threads, int) or self.num_threads < 1):
            raise ValueError(
                f"EngineConfig.num_threads must be None or a positive int, got {self.num_threads!r}"
            )
        if self.accelerator not in ("numpy", "numba"):
            raise ValueError(f"EngineConfig.accelerator must be 'numpy' or 'numba', got {self.accelerator!r}")
        if not accelerator_available(self.accelerator):
            raise ValueError(
                f"EngineConfig.accelerator {self.accelerator!r} is not installed "
                "(pip install 'freeagentics[accel]')"
            )
        _check_indices("modalities_to_learn", self.modalities_to_learn)
        _check_indices("factors_to_learn", self.factors_to_learn)
        _check_indices("factors_to_learn_D", self.factors_to_learn_D)

    @property
    def np_dtype(self) -> np.dtype[np.floating]:
        """The NumPy dtype of every floating-point array the engine computes with."""
        return np.dtype(self.dtype)
