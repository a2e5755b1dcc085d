"""The world canvas takes 10,000 agents: one members message, ticks that move them, picking and colouring.

No timing is asserted (the machine's load decides it); the average frame time is printed for the record:
``pytest tests/dashboard/test_dashboard_world_scale.py -s``.
"""

from __future__ import annotations

from typing import Any

from tests.dashboard.conftest import login

AGENTS = 10_000

DRIVE = """async ([count, frames]) => {
    const { WorldCanvas } = await import("/dashboard/js/world.js");
    const canvas = document.createElement("canvas");
    canvas.className = "world";
    document.getElementById("view").append(canvas);
    const view = new WorldCanvas(canvas);
    const size = 100;
    view.setWorld({ height: size, width: size, walls: [[50, 50]], goals: [[99, 99]], resources: [], tick: 0 });
    const ids = Array.from({ length: count }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
    view.setMembers({ agent_ids: ids, population: ids.map((_, i) => i % 4), templates: ["a", "b", "c", "d"] });
    const tick = (t) => ({
        type: "tick", tick: t,
        rows: ids.map((_, i) => (i * 7 + t) % size), cols: ids.map((_, i) => (i * 13 + 2 * t) % size),
        running: ids.map(() => 1), carrying: ids.map(() => 0), resources_left: [], events: [],
    });
    view.applyTick(tick(1));
    view.applyTick(tick(2));
    view.setCoalitions([{ id: "c1", members: ids.slice(0, 500) }]);
    view.setColorMode("coalition");
    const started = performance.now();
    for (let f = 0; f < frames; f += 1) view.draw();
    const perFrame = (performance.now() - started) / frames;
    const snapshot = view.snapshot();
    const k = 4321;
    const picked = view.pickAt(view.offsetX + (view.cols[k] + view.jitterX[k]) * view.scale,
                               view.offsetY + (view.rows[k] + view.jitterY[k]) * view.scale);
    view.destroy();
    canvas.remove();
    return { perFrame, count: snapshot.count, tick: snapshot.tick, members: snapshot.coalitionMembers,
             rows: snapshot.rows.slice(0, 3), frames: snapshot.frames, picked };
}"""


def test_the_world_canvas_draws_ten_thousand_agents(page: Any) -> None:
    login(page, "olive")
    result = page.evaluate(DRIVE, [AGENTS, 30])
    assert result["count"] == AGENTS
    assert result["tick"] == 2
    assert result["rows"] == [2, 9, 16]
    assert result["members"] == 500
    assert result["frames"] == 30
    assert result["picked"] == 4321
    print(f"\n10,000 agents: {result['perFrame']:.2f} ms per frame (headless chromium, software rendering)")
