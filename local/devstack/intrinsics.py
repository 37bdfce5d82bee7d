"""Template values resolved to the local stack's resources: `!Ref` and `!GetAtt` become local names.

The local stack takes the function's environment and the API's CORS origins from template.yaml;
what they reference (a bucket, a document, the site's URL) exists here under local names. A
reference the stack does not know is an error at start-up, so a new template variable cannot be
silently missing locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


class UnresolvedValue(ValueError):
    """A template value the local stack has no local value for."""


@dataclass(frozen=True)
class LocalResources:
    """Local values for `!Ref <logical id>` and `!GetAtt <logical id>.<attribute>`."""

    refs: Mapping[str, str]
    attributes: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def resolve(self, value: object) -> str:
        """A scalar as text, or a Ref / GetAtt as its local value; anything else is refused."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in self.refs:
            return self.refs[value["Ref"]]
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            target = tuple(value["Fn::GetAtt"])
            if target in self.attributes:
                return self.attributes[target]
        raise UnresolvedValue(f"no local value for {value!r}; add it to the local stack's resources")

    def resolve_all(self, values: Mapping[str, object]) -> dict[str, str]:
        """Every value of a mapping resolved (a function's environment variables)."""
        return {name: self.resolve(value) for name, value in values.items()}
