"""Throughput of the batched inference engine, side by side with pymdp 1.0 (batched JAX) and pymdp.legacy.

Run: ``.venv/bin/python benchmarks/engine.py`` (full table, several minutes) or ``--quick`` (CI smoke run,
seconds: small populations, ours and legacy only). Options: ``--agents 1 100 10000``, ``--models 10x10:1``,
``--no-jax``, ``--no-legacy``, ``--blas-threads N``, ``--engine-threads N``, ``--markdown FILE``.

Model: the grid explorer template (``freeagentics.domain.models.templates.grid_explorer``): an ``S`` x ``S``
open grid, goal in the far corner, location observed correctly with probability 0.9 (else a neighbouring
cell), five moves, ``policy_len`` 1 or 3 (5 or 125 policies). Every engine gets the same model arrays and is
run float32 (JAX's default dtype; ours with ``dtype="float32"``), deterministic actions.

What is timed: one population step = state inference, policy inference and action selection for all
``N`` agents (pymdp 1.0: ``pymdp.envs.rollout.infer_and_plan`` under ``jax.jit``, compile
time measured apart; legacy: ``infer_states``, ``infer_policies``, ``sample_action`` per agent in a Python
loop). Observations come from a simulated world (true positions moved by the chosen actions, noisy
observations drawn from ``A``), produced outside the timed region.

- pymdp 1.0 is skipped where XLA's own memory analysis of the compiled step at a small batch, scaled to
  ``N``, plus the per-agent copies of the model exceed ``--jax-memory-gb`` (the table says so).
- legacy runs at most ``--legacy-seconds`` per configuration; for larger ``N`` its rate is extrapolated
  from the agent-steps it did (the table marks these).
- "CPU ms/step" is the process CPU time of a step over all threads: on a shared machine it stays close to
  what the step costs, where wall time stretches with the load; on an idle machine wall time is about CPU
  time divided by the cores in use.
- "bytes/agent" is per-agent state: ours ``PopulationState.nbytes_per_agent`` (beliefs, policy posterior,
  last action); pymdp 1.0 the agent pytree's bytes divided by the batch size (it copies the model into
  every batch slot); legacy the NumPy arrays one ``Agent`` object holds.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run: small N, no JAX, seconds")
    parser.add_argument("--agents", type=int, nargs="*", default=None, help="population sizes")
    parser.add_argument("--models", nargs="*", default=None, help="SIZExSIZE:POLICY_LEN, e.g. 10x10:1")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement (after warm-up)")
    parser.add_argument("--no-jax", action="store_true", help="skip pymdp 1.0")
    parser.add_argument("--no-legacy", action="store_true", help="skip pymdp.legacy")
    parser.add_argument("--legacy-seconds", type=float, default=3.0, help="time cap per legacy measurement")
    parser.add_argument("--jax-memory-gb", type=float, default=12.0, help="skip pymdp 1.0 above this")
    parser.add_argument(
        "--blas-threads", type=int, default=1, help="OpenBLAS threads (set before NumPy loads)"
    )
    parser.add_argument("--engine-threads", type=int, default=None, help="our engine's worker threads")
    parser.add_argument(
        "--accelerator",
        choices=["numba", "numpy"],
        default=None,
        help="our engine's accelerator for the 'ours' columns (default: numba when installed); the NumPy "
        "path is always measured too, in its own columns",
    )
    parser.add_argument("--markdown", default=None, help="also write the table to this file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile our engine instead (one thread, cProfile, by function)",
    )
    return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    # One BLAS thread per engine worker: the engine already splits the agent axis over the cores.
    os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)

import platform  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from freeagentics.domain.engine import EngineConfig, GenerativeModel, init_population, step  # noqa: E402
from freeagentics.domain.engine.config import Accelerator, accelerator_available  # noqa: E402
from freeagentics.domain.models.compiled import CompiledModel  # noqa: E402
from freeagentics.domain.models.templates import grid_explorer  # noqa: E402

NOISE = 0.1


def grid_model(size: int, policy_len: int) -> CompiledModel:
    return grid_explorer(
        size, size, goal=(size - 1, size - 1), observation_noise=NOISE, policy_len=policy_len
    )


class World:
    """True positions moved by the agents' actions; noisy observations drawn from ``A`` (not timed)."""

    def __init__(self, model: CompiledModel, n: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.cum_A = np.cumsum(model.A[0], axis=0)
        self.table = np.asarray(model.B[0].argmax(axis=0))
        self.pos = self.rng.integers(0, model.A[0].shape[1], n)

    def observe(self) -> np.ndarray:
        u = self.rng.random(len(self.pos))
        return (self.cum_A[:, self.pos] < u).sum(axis=0).astype(np.int64)[:, None]

    def advance(self, actions: np.ndarray) -> None:
        self.pos = self.table[self.pos, np.asarray(actions).reshape(len(self.pos), -1)[:, 0].astype(np.int64)]


@dataclass
class Result:
    rate: float | None = None  # agent-steps per second
    ms: float | None = None  # ms per population step (wall clock)
    cpu_ms: float | None = None  # process CPU time per population step, all threads
    nbytes: float | None = None  # per-agent bytes
    compile_s: float | None = None
    note: str = ""


def bench_ours(
    cm: CompiledModel, n: int, steps: int, threads: int | None, accelerator: Accelerator = "numpy"
) -> Result:
    model = GenerativeModel.from_compiled(cm)
    config = EngineConfig(dtype="float32", num_threads=threads, accelerator=accelerator)
    state = init_population(model, config, n)
    world = World(cm, n)
    times, cpu = [], []
    for i in range(steps + 2):
        obs = world.observe()
        t0, c0 = time.perf_counter(), time.process_time()
        state, actions, _ = step(model, config, state, obs)
        elapsed, used = time.perf_counter() - t0, time.process_time() - c0
        if i >= 2:  # the first steps build the model's cached tables
            times.append(elapsed)
            cpu.append(used)
        world.advance(actions)
    seconds = float(np.median(times))
    cpu_ms = float(np.median(cpu)) * 1e3
    return Result(rate=n / seconds, ms=seconds * 1e3, cpu_ms=cpu_ms, nbytes=state.nbytes_per_agent)


def bench_jax(cm: CompiledModel, n: int, steps: int, memory_gb: float) -> Result:
    import jax
    import jax.numpy as jnp
    from jax import random as jr
    from pymdp.agent import Agent
    from pymdp.envs.rollout import infer_and_plan

    def make(batch: int) -> Any:
        return Agent(
            A=[jnp.asarray(a, dtype=jnp.float32) for a in cm.A],
            B=[jnp.asarray(b, dtype=jnp.float32) for b in cm.B],
            C=[jnp.asarray(c, dtype=jnp.float32) for c in cm.C],
            D=[jnp.asarray(d, dtype=jnp.float32) for d in cm.D],
            policy_len=cm.policy_len,
            gamma=16.0,
            alpha=16.0,
            batch_size=batch,
            action_selection="deterministic",
            sampling_mode="marginal",
        )

    def leaves_bytes(agent: Any) -> int:
        return sum(int(x.nbytes) for x in jax.tree_util.tree_leaves(agent) if hasattr(x, "nbytes"))

    def args(agent: Any, batch: int, obs: np.ndarray) -> tuple[Any, ...]:
        qs = [jnp.expand_dims(d, -2) for d in agent.D]
        action = -jnp.ones((batch, 1), dtype=jnp.int32)
        return agent, qs, [jnp.asarray(obs[:, :1], dtype=jnp.int32)], action, jr.PRNGKey(0)

    fn = jax.jit(infer_and_plan)  # the agent is a pytree whose static fields are part of the treedef
    # Memory estimate from a small batch: XLA's analysis of the compiled step plus the model copies.
    probe = 8
    small = make(probe)
    analysis = fn.lower(*args(small, probe, np.zeros((probe, 1), dtype=np.int64))).compile().memory_analysis()
    per_agent = leaves_bytes(small) / probe
    if analysis is not None:
        per_agent += (analysis.temp_size_in_bytes + analysis.output_size_in_bytes) / probe
    need = per_agent * n
    if need > memory_gb * 2**30:
        return Result(
            nbytes=leaves_bytes(small) / probe,
            note=f"skipped: needs ~{need / 2**30:.0f} GB (limit {memory_gb:.0f} GB)",
        )
    agent = make(n)
    world = World(cm, n)
    obs = world.observe()
    t0 = time.perf_counter()
    compiled = fn.lower(*args(agent, n, obs)).compile()
    compile_s = time.perf_counter() - t0
    qs = [jnp.expand_dims(d, -2) for d in agent.D]
    action = -jnp.ones((n, 1), dtype=jnp.int32)
    key = jr.PRNGKey(0)
    times, cpu = [], []
    for i in range(steps + 1):
        o = [jnp.asarray(obs[:, :1], dtype=jnp.int32)]
        t0, c0 = time.perf_counter(), time.process_time()
        _, new_action, new_qs, _ = compiled(agent, qs, o, action, key)
        jax.block_until_ready(new_action)
        elapsed, used = time.perf_counter() - t0, time.process_time() - c0
        if i >= 1:
            times.append(elapsed)
            cpu.append(used)
        qs = [q[:, -1:] for q in new_qs]
        action = new_action.astype(jnp.int32)
        world.advance(np.asarray(new_action))
        obs = world.observe()
    seconds = float(np.median(times))
    return Result(
        rate=n / seconds,
        ms=seconds * 1e3,
        cpu_ms=float(np.median(cpu)) * 1e3,
        nbytes=leaves_bytes(agent) / n,
        compile_s=compile_s,
    )


def _legacy_nbytes(obj: Any, seen: set[int] | None = None) -> int:
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return sum(_legacy_nbytes(x, seen) for x in obj.ravel())
        return int(obj.nbytes)
    if isinstance(obj, (list, tuple)):
        return sum(_legacy_nbytes(x, seen) for x in obj)
    if isinstance(obj, dict):
        return sum(_legacy_nbytes(x, seen) for x in obj.values())
    return 0


def bench_legacy(cm: CompiledModel, n: int, seconds_cap: float) -> Result:
    from pymdp.legacy import utils
    from pymdp.legacy.agent import Agent

    obj = utils.obj_array_from_list
    agents = []
    world = World(cm, n)
    done = 0
    t_total = 0.0
    obs = world.observe()
    # One pass over the population at most, stopping at the time cap; the first agent-step is a warm-up.
    for i in range(n):
        agent = Agent(
            A=obj(list(cm.A)),
            B=obj(list(cm.B)),
            C=obj(list(cm.C)),
            D=obj(list(cm.D)),
            policy_len=cm.policy_len,
            gamma=16.0,
            alpha=16.0,
            action_selection="deterministic",
        )
        agents.append(agent)
        for _ in range(2):
            t0 = time.perf_counter()
            agent.infer_states([int(obs[i, 0])])
            agent.infer_policies()
            agent.sample_action()
            elapsed = time.perf_counter() - t0
            if _ or i:
                t_total += elapsed
                done += 1
        if t_total > seconds_cap:
            break
    per_step = t_total / max(done, 1)
    note = "" if len(agents) == n else f"extrapolated from {done} agent-steps"
    return Result(
        rate=1.0 / per_step, ms=per_step * n * 1e3, nbytes=_legacy_nbytes(agents[0].__dict__), note=note
    )


def profile_ours(cm: CompiledModel, n: int, steps: int, accelerator: Accelerator) -> None:
    """Where a step's time goes: cProfile of ``steps`` steps on one thread, by function, as shares."""
    import cProfile
    import pstats

    model = GenerativeModel.from_compiled(cm)
    config = EngineConfig(dtype="float32", num_threads=1, accelerator=accelerator)
    state = init_population(model, config, n)
    world = World(cm, n)
    for _ in range(2):
        state, actions, _ = step(model, config, state, world.observe())
        world.advance(actions)
    observations = [world.observe() for _ in range(steps)]
    profiler = cProfile.Profile()
    profiler.enable()
    for obs in observations:
        state, actions, _ = step(model, config, state, obs)
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values())
    top = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:8]
    size = cm.metadata.get("height")
    print(f"# profile: {size}x{size}, policy_len {cm.policy_len}, N={n}, accelerator {accelerator}")
    for (filename, line, name), v in top:
        where = f"{os.path.basename(filename)}:{line}({name})" if line else name
        print(f"#   {100 * v[2] / total:5.1f} %  {v[2] / steps * 1e3:8.2f} ms/step  {where}")


def machine() -> list[str]:
    lines = [f"python {platform.python_version()}, numpy {np.__version__}, {platform.platform()}"]
    try:
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        keep = ("Model name", "CPU(s):", "Thread(s) per core", "L2 cache", "L3 cache", "Flags")
        for line in cpu.splitlines():
            if line.startswith(keep[:-1]):
                lines.append(" ".join(line.split()))
            elif line.startswith("Flags"):
                flags = set(line.split()[1:])
                lines.append("SIMD: " + " ".join(f for f in ("avx", "avx2", "fma", "avx512f") if f in flags))
    except OSError:
        lines.append("lscpu unavailable")
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]  # type: ignore[func-returns-value,index]
        lines.append(
            f"BLAS: {blas.get('name')} {blas.get('version')} ({blas.get('openblas configuration', '')})"
        )
    except (KeyError, TypeError):
        lines.append("BLAS: unknown")
    env = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    lines.append("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    lines.append("load average at start (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return lines


def fmt(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def ratio(ours: float | None, other: float | None) -> str:
    if not ours or not other:
        return "-"
    r = ours / other
    return f"{r:,.1f}x" if r < 10 else f"{r:,.0f}x"


def main() -> None:
    assert ARGS is not None
    quick = ARGS.quick
    agents = ARGS.agents or ([1, 100] if quick else [1, 100, 10_000, 100_000])
    models = ARGS.models or (["5x5:1", "10x10:1"] if quick else ["5x5:1", "5x5:3", "10x10:1", "10x10:3"])
    use_jax = not (quick or ARGS.no_jax)
    use_legacy = not ARGS.no_legacy
    steps = 2 if quick else ARGS.steps
    legacy_cap = 0.5 if quick else ARGS.legacy_seconds
    accelerator: Accelerator = ARGS.accelerator or ("numba" if accelerator_available("numba") else "numpy")
    for line in [*machine(), f"ours: accelerator {accelerator}"]:
        print("#", line)
    if ARGS.profile:
        for spec in models:
            size_part, pl_part = spec.split(":")
            size = int(size_part.split("x")[0])
            for n in agents:
                profile_ours(grid_model(size, int(pl_part)), n, steps, accelerator)
        return
    header = (
        "| model | N | ours agent-steps/s | ours ms/step | ours CPU ms/step | ours B/agent "
        "| pymdp 1.0 agent-steps/s | pymdp 1.0 ms/step | pymdp 1.0 CPU ms/step | pymdp 1.0 compile s "
        "| pymdp 1.0 B/agent | ours / pymdp 1.0 | legacy agent-steps/s | legacy B/agent | ours / legacy "
        "| ours, NumPy path agent-steps/s | ours, NumPy path CPU ms/step |"
    )
    rows = [header, "|" + "---|" * 17]
    print(header)
    print(rows[1])
    for spec in models:
        size_part, pl_part = spec.split(":")
        size = int(size_part.split("x")[0])
        policy_len = int(pl_part)
        cm = grid_model(size, policy_len)
        for n in agents:
            mine = bench_ours(cm, n, steps, ARGS.engine_threads, accelerator)
            plain = mine if accelerator == "numpy" else bench_ours(cm, n, steps, ARGS.engine_threads)
            theirs = Result(note="not run") if not use_jax else bench_jax(cm, n, steps, ARGS.jax_memory_gb)
            old = Result(note="not run") if not use_legacy else bench_legacy(cm, n, legacy_cap)
            ratio_jax = ratio(mine.rate, theirs.rate)
            ratio_old = ratio(mine.rate, old.rate)
            jax_rate = fmt(theirs.rate) if theirs.rate else theirs.note
            old_rate = (
                fmt(old.rate) + (f" ({old.note})" if old.note and old.rate else "") if old.rate else old.note
            )
            row = (
                f"| {size}x{size}, policy_len {policy_len} | {n:,} | {fmt(mine.rate)} | {fmt(mine.ms, 2)} | "
                f"{fmt(mine.cpu_ms, 2)} | {fmt(mine.nbytes)} | {jax_rate} | {fmt(theirs.ms, 2)} | "
                f"{fmt(theirs.cpu_ms, 2)} | {fmt(theirs.compile_s, 1)} | "
                f"{fmt(theirs.nbytes)} | {ratio_jax} | {old_rate} | {fmt(old.nbytes)} | {ratio_old} | "
                f"{fmt(plain.rate)} | {fmt(plain.cpu_ms, 2)} |"
            )
            rows.append(row)
            print(row, flush=True)
    print("# load average at end (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    if ARGS.markdown:
        with open(ARGS.markdown, "w", encoding="utf-8") as fh:
            lines = [*machine(), f"ours: accelerator {accelerator}"]
            fh.write("\n".join([*(f"- {line}" for line in lines), "", *rows, ""]))


if __name__ == "__main__":
    sys.exit(main())
