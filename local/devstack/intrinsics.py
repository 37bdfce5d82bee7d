"""Template values resolved to the local stack's resources: `!Ref` and `!GetAtt` become local names.

The local stack takes the function's environment and the API's CORS origins from template.yaml;
what they reference (a bucket, a document, the site's URL) exists here under local names. A
reference the stack does not know is an error at start-up, so a new template variable cannot be
silently missing locally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")


class UnresolvedValue(ValueError):
    """A template value the local stack has no local value for."""


@dataclass(frozen=True)
class LocalResources:
    """Local values for `!Ref <logical id>` and `!GetAtt <logical id>.<attribute>`."""

    refs: Mapping[str, str]
    attributes: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # Local values of whole `!Sub` texts whose kind differs here (an AWS endpoint that is the dev
    # server's /api or moto's S3 locally); other `!Sub` texts are substituted name by name.
    subs: Mapping[str, str] = field(default_factory=dict)

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
        if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
            return self._sub(value["Fn::Sub"])
        raise UnresolvedValue(f"no local value for {value!r}; add it to the local stack's resources")

    def _sub(self, spec: object) -> str:
        """Fn::Sub in its text or [text, variables] form, every name resolved locally."""
        if isinstance(spec, str) and spec in self.subs:
            return self.subs[spec]
        text, variables = (spec, {}) if isinstance(spec, str) else spec
        local = {name: self.resolve(v) for name, v in variables.items()}

        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in local:
                return local[name]
            if "." in name and not name.startswith("AWS::"):
                return self.resolve({"Fn::GetAtt": name.split(".", 1)})
            return self.resolve({"Ref": name})

        return _NAME.sub(one, text)

    def resolve_all(self, values: Mapping[str, object]) -> dict[str, str]:
        """Every value of a mapping resolved (a function's environment variables)."""
        return {name: self.resolve(value) for name, value in values.items()}
