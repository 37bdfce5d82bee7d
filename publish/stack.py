"""The deployed stack: its name (from samconfig.toml) and its Outputs."""

from __future__ import annotations

import tomllib
from pathlib import Path

from botocore.exceptions import ClientError

from publish.uploader import PublishError

# The Outputs of template.yaml that publishing needs.
REQUIRED_OUTPUTS = ("SiteBucketName", "GalleryBucketName", "ApiUrl")


def samconfig_value(path: Path, name: str, env: str = "default") -> str | None:
    """A deploy parameter (e.g. stack_name, region) from samconfig.toml, or None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise PublishError(f"{path} is not valid TOML: {e}") from e
    for command in ("deploy", "global"):
        value = config.get(env, {}).get(command, {}).get("parameters", {}).get(name)
        if value:
            return str(value)
    return None


def stack_outputs(cloudformation, stack_name: str) -> dict[str, str]:
    """The stack's Outputs as {OutputKey: OutputValue}; a clear error when a needed one is missing."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as e:
        raise PublishError(
            f"cannot read stack {stack_name!r}: {e.response['Error']['Message']} "
            "(deploy it first with `sam deploy --guided`, or pass --stack-name)"
        ) from e
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise PublishError(f"stack {stack_name!r} has no output {', '.join(missing)}; is it this project's?")
    return outputs
