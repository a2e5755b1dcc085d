"""No route dependency or handler is a plain ``def``: FastAPI would run it in the thread pool.

A thread-pool call is a hand-off to a worker thread and back, which on a process whose tick thread holds
the GIL costs far more than the work itself; every dependency here is cheap and must be ``async``.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.routing import iter_route_contexts

from freeagentics.api.app import create_app


def _calls(dependant: Any) -> list[Any]:
    stack, calls = [dependant], []
    while stack:
        current = stack.pop()
        if current.call is not None:
            calls.append(current.call)
        stack.extend(current.dependencies)
    return calls


def test_every_dependency_and_handler_runs_on_the_event_loop(settings_env) -> None:
    app = create_app(settings_env())
    threaded = set()
    checked = 0
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if dependant is None:
            continue
        for call in _calls(dependant):
            checked += 1
            if not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)):
                threaded.add(f"{context.path_format or context.path}: {getattr(call, '__qualname__', call)}")
    assert checked > 50
    assert sorted(threaded) == []
