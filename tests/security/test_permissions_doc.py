"""``docs/security/PERMISSIONS.md`` shows the real matrix and every route's declared access.

Regenerate after changing the matrix or adding routes: ``.venv/bin/python tests/security/test_permissions_doc.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "security" / "PERMISSIONS.md"
BEGIN_MATRIX, END_MATRIX = "<!-- matrix:begin -->", "<!-- matrix:end -->"
BEGIN_ROUTES, END_ROUTES = "<!-- routes:begin -->", "<!-- routes:end -->"


def matrix_table() -> str:
    from freeagentics.services.auth.rbac import ROLE_PERMISSIONS, Permission, Role

    roles = list(Role)
    lines = [
        "| Permission | " + " | ".join(role.value for role in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        marks = " | ".join("yes" if permission in ROLE_PERMISSIONS[role] else "—" for role in roles)
        lines.append(f"| `{permission.value}` | {marks} |")
    return "\n".join(lines)


def routes_table() -> str:
    from freeagentics.api.app import create_app
    from freeagentics.api.permissions import PUBLIC_ROUTES, declared_routes
    from freeagentics.config import load_settings

    app = create_app(load_settings())
    rows = set()
    for route in declared_routes(app):
        methods = "WS" if route.is_websocket else ", ".join(sorted(route.methods - {"HEAD"}))
        if route.access is not None:
            access = f"`{route.access.describe()}`"
            if route.access.rate_class:
                access += f" (rate class {route.access.rate_class})"
        elif route.path in PUBLIC_ROUTES:
            access = "public"
        else:
            access = "**undeclared**"
        rows.add((route.path, methods, access))
    lines = ["| Route | Methods | Access |", "|---|---|---|"]
    lines += [f"| `{path}` | {methods} | {access} |" for path, methods, access in sorted(rows)]
    return "\n".join(lines)


def _between(text: str, begin: str, end: str) -> str:
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def _replace(text: str, begin: str, end: str, body: str) -> str:
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{body}\n{end}{rest.split(end, 1)[1]}"


def test_the_matrix_in_the_doc_is_the_code_s(settings_env) -> None:
    settings_env()
    assert _between(DOC.read_text(), BEGIN_MATRIX, END_MATRIX) == matrix_table()


def test_every_route_is_in_the_doc_with_its_access(settings_env) -> None:
    settings_env()
    documented = _between(DOC.read_text(), BEGIN_ROUTES, END_ROUTES)
    assert documented == routes_table(), "regenerate: .venv/bin/python tests/security/test_permissions_doc.py"


if __name__ == "__main__":
    os.environ.setdefault("FREEAGENTICS_ENV_FILE", os.devnull)
    os.environ.setdefault("FREEAGENTICS_DATA_DIR", "/tmp/freeagentics-permissions-doc")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    text = DOC.read_text()
    text = _replace(text, BEGIN_MATRIX, END_MATRIX, matrix_table())
    text = _replace(text, BEGIN_ROUTES, END_ROUTES, routes_table())
    DOC.write_text(text)
