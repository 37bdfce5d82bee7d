"""Stack parameters publish owns: the bootstrap pin and the page's origin, set through UpdateStack.

- BootstrapSha256: the instance runs agent/bootstrap.sh as root, from the gallery bucket; its
  UserData and the RefreshDocument run it only when its SHA-256 is this parameter, which only the
  stack's operator can change, so writing the gallery bucket is not root on the instance.
- SiteOrigin: the page's https origin (the SiteURL output), the one origin the API's and the
  gallery bucket's CORS allow and the base of result URLs. The template cannot name its own
  distribution there (the page's CSP names the API and the bucket: a dependency cycle).

Both are set with one UpdateStack (previous template, every other parameter's previous value),
only when a value differs, and publish waits for it to complete.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path

from botocore.exceptions import ClientError, WaiterError

from publish.uploader import PublishError

BOOTSTRAP_PARAMETER = "BootstrapSha256"
ORIGIN_PARAMETER = "SiteOrigin"
# The template holds IAM roles and the SAM transform.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def set_stack_parameters(cloudformation, stack: str, wanted: Mapping[str, str],
                         say: Callable[[str], None] = print) -> bool:
    """Give the stack's parameters the `wanted` values (one UpdateStack); return whether it was updated.

    A parameter the stack does not have (deployed from an older template) is left alone and said so.
    """
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as e:
        raise PublishError(f"cannot read stack {stack!r}: {e}") from e
    current = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    for name in sorted(set(wanted) - set(current)):
        say(f"stack {stack} has no {name} parameter (an older template): redeploy it to set it")
    changes = {k: v for k, v in wanted.items() if k in current and current[k] != v}
    if not changes:
        return False
    say(f"setting {', '.join(sorted(changes))} on stack {stack} (UpdateStack, previous template)")
    parameters = [{"ParameterKey": k, "UsePreviousValue": True} for k in sorted(current) if k not in changes]
    parameters += [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(changes.items())]
    try:
        cloudformation.update_stack(StackName=stack, UsePreviousTemplate=True, Capabilities=CAPABILITIES,
                                    Parameters=parameters)
        cloudformation.get_waiter("stack_update_complete").wait(
            StackName=stack, WaiterConfig={"Delay": 10, "MaxAttempts": 180})
    except (ClientError, WaiterError) as e:
        raise PublishError(f"cannot update the parameters of stack {stack}: {e}") from e
    return True


def wanted_parameters(outputs: Mapping[str, str], bootstrap: Path | None) -> dict[str, str]:
    """What publish sets: the bootstrap's hash (when it publishes the agent) and the page's origin."""
    wanted = {}
    if bootstrap is not None:
        wanted[BOOTSTRAP_PARAMETER] = file_sha256(bootstrap)
    if outputs.get("SiteURL"):
        wanted[ORIGIN_PARAMETER] = outputs["SiteURL"].rstrip("/")
    return wanted


def pin_bootstrap(cloudformation, stack: str, bootstrap: Path, say: Callable[[str], None] = print) -> bool:
    """Make the stack's BootstrapSha256 the hash of `bootstrap`; return whether the stack was updated."""
    return set_stack_parameters(cloudformation, stack, {BOOTSTRAP_PARAMETER: file_sha256(bootstrap)}, say)
