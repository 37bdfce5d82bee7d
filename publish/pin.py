"""The bootstrap pin: the stack parameter BootstrapSha256, set to the hash of the bootstrap publish uploads.

The instance runs agent/bootstrap.sh as root, from the gallery bucket; its UserData and the
RefreshDocument run it only when its SHA-256 is the stack's BootstrapSha256. Publish sets that
parameter with UpdateStack (previous template, every other parameter's previous value), which
only the stack's operator may do, so writing the gallery bucket is not root on the instance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import ClientError, WaiterError

from publish.uploader import PublishError

PARAMETER = "BootstrapSha256"
# The template holds IAM roles and the SAM transform.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pin_bootstrap(cloudformation, stack: str, bootstrap: Path, say: Callable[[str], None] = print) -> bool:
    """Make the stack's BootstrapSha256 the hash of `bootstrap`; return whether the stack was updated.

    A stack deployed from a template without the parameter is left alone (and said so).
    """
    digest = file_sha256(bootstrap)
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as e:
        raise PublishError(f"cannot read stack {stack!r}: {e}") from e
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    if PARAMETER not in parameters:
        say(f"stack {stack} has no {PARAMETER} parameter (an older template): redeploy to pin the bootstrap")
        return False
    if parameters[PARAMETER] == digest:
        return False
    say(f"pinning agent/bootstrap.sh sha256 {digest[:12]}... in stack {stack} (UpdateStack)")
    others = [{"ParameterKey": k, "UsePreviousValue": True} for k in sorted(parameters) if k != PARAMETER]
    try:
        cloudformation.update_stack(
            StackName=stack, UsePreviousTemplate=True, Capabilities=CAPABILITIES,
            Parameters=[*others, {"ParameterKey": PARAMETER, "ParameterValue": digest}],
        )
        cloudformation.get_waiter("stack_update_complete").wait(
            StackName=stack, WaiterConfig={"Delay": 10, "MaxAttempts": 180})
    except (ClientError, WaiterError) as e:
        raise PublishError(f"cannot set {PARAMETER} on stack {stack}: {e}") from e
    return True
