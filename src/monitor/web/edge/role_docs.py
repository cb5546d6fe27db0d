"""The OpenAPI document names the role each operation needs.

Each authenticated operation gets `x-required-role` (what `require_role`
declared) and a closing line in its description naming the key roles that
may call it, since Swagger UI at /docs shows descriptions but not extensions.
"""

from __future__ import annotations

from typing import Any

from quart_schema import OpenAPIProvider
from werkzeug.routing import Rule

from monitor.domain.keys import granted_to, spoken_list
from monitor.web.edge.auth import declared_role

REQUIRED_ROLE_EXTENSION = "x-required-role"


class RoleDocumentingProvider(OpenAPIProvider):
    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        required = declared_role(self._app.view_functions[rule.endpoint])
        if required is None:
            return paths, components
        holders = spoken_list([role.label for role in granted_to(required)])
        needs = f"Needs a key with role {holders}."
        for operations in paths.values():
            for operation in operations.values():
                operation[REQUIRED_ROLE_EXTENSION] = required.label
                described = operation.get("description", "")
                operation["description"] = f"{described}\n\n{needs}" if described else needs
        return paths, components
