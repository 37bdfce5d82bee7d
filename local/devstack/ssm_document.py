"""An SSM Command document as the local stand-in runs it, and SSM's checks of its parameters.

Only what this project's documents use: schemaVersion 2.2, String parameters with
`interpolationType: ENV_VAR` (values reach the script as `SSM_<name>` environment variables, never
as text), and one `aws:runShellScript` step. The command text names each parameter as
`"{{ name }}"`; `env_var_interpolation` does what the agent does with it (`$SSM_name`).
Parameter values are checked as SSM checks them, and refused with the `ClientError` codes the real
service raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from botocore.exceptions import ClientError

# aws:runShellScript's default execution timeout when the document names none.
DEFAULT_EXECUTION_TIMEOUT_S = 3600
_PARAM_REF = re.compile(r"\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}")
# A reference this project writes: alone inside double quotes, so the shell reads the variable as
# one word whatever its value (no splitting, no globbing).
_QUOTED_REF = re.compile(r'"\{\{\s*[A-Za-z0-9_]+\s*\}\}"')


def env_var_interpolation(line: str) -> str:
    """A command line as the SSM agent runs it with ENV_VAR: each {{ name }} becomes $SSM_name."""
    return _PARAM_REF.sub(lambda ref: f"$SSM_{ref[1]}", line)


def ssm_error(code: str, message: str, operation: str) -> ClientError:
    """A ClientError shaped like the one boto3's SSM client raises for `code`."""
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


class DocumentError(ValueError):
    """The SSM document cannot be run locally the way it would run on the instance."""


@dataclass(frozen=True)
class Step:
    """One aws:runShellScript step: its name, command lines and execution timeout."""

    name: str
    commands: tuple[str, ...]
    timeout_s: float


@dataclass(frozen=True)
class Document:
    """The parts of a schemaVersion 2.2 command document the runner needs."""

    name: str
    parameters: dict[str, dict]
    step: Step

    @classmethod
    def from_content(cls, name: str, content: dict) -> Document:
        """Check the document content is what the instance would run (ENV_VAR, one shell step)."""
        if str(content.get("schemaVersion")) != "2.2":
            raise DocumentError(f"{name}: schemaVersion must be 2.2, got {content.get('schemaVersion')!r}")
        parameters = content.get("parameters") or {}
        for pname, spec in parameters.items():
            if spec.get("interpolationType") != "ENV_VAR":
                raise DocumentError(f"{name}: parameter {pname!r} must use interpolationType ENV_VAR")
            if spec.get("type", "String") != "String":
                raise DocumentError(f"{name}: parameter {pname!r} must be a String")
        steps = content.get("mainSteps") or []
        if len(steps) != 1 or steps[0].get("action") != "aws:runShellScript":
            raise DocumentError(f"{name}: expected exactly one aws:runShellScript step")
        inputs = steps[0].get("inputs") or {}
        commands = inputs.get("runCommand")
        if isinstance(commands, str):
            commands = [commands]
        if not commands or not all(isinstance(c, str) for c in commands):
            raise DocumentError(f"{name}: runCommand must be a list of strings")
        for line in commands:
            for ref in _PARAM_REF.finditer(line):
                if ref[1] not in parameters:
                    raise DocumentError(f"{name}: runCommand references an unknown parameter: {ref[0]!r}")
            if _PARAM_REF.search(_QUOTED_REF.sub("", line)):
                raise DocumentError(f"{name}: a parameter reference must stand alone in double quotes, "
                                    f'"{{{{ name }}}}": {line!r}')
        timeout = float(inputs.get("timeoutSeconds", DEFAULT_EXECUTION_TIMEOUT_S))
        step = Step(name=str(steps[0].get("name", "run")), commands=tuple(commands), timeout_s=timeout)
        return cls(name=name, parameters=dict(parameters), step=step)

    def validate(self, given: dict) -> dict[str, str]:
        """The parameter values to run with (defaults filled in); InvalidParameters like SSM."""
        op = "SendCommand"
        if not isinstance(given, dict):
            raise ssm_error("InvalidParameters", "Parameters must be a map of lists of strings", op)
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise ssm_error("InvalidParameters",
                            f"document {self.name} does not support parameters {unknown}", op)
        values: dict[str, str] = {}
        for pname, spec in self.parameters.items():
            if pname in given:
                raw = given[pname]
                if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], str):
                    raise ssm_error("InvalidParameters", f"parameter {pname!r} must be a list of one string",
                                    op)
                value = raw[0]
            elif "default" in spec:
                value = str(spec["default"])
            else:
                raise ssm_error("InvalidParameters", f"required parameter {pname!r} is missing", op)
            pattern = spec.get("allowedPattern")
            # fullmatch, so a trailing newline cannot slip past a `$` the way re.search would allow.
            if pattern is not None and not re.fullmatch(pattern, value):
                raise ssm_error("InvalidParameters",
                                f"parameter {pname!r} value does not match allowedPattern {pattern}", op)
            allowed = spec.get("allowedValues")
            if allowed is not None and value not in [str(a) for a in allowed]:
                raise ssm_error("InvalidParameters", f"parameter {pname!r} is not one of {allowed}", op)
            values[pname] = value
        return values
