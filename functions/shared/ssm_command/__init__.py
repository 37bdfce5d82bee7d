"""SSM Run Command for one instance: send a document, poll its invocation, name how it ended.

One implementation for every caller: the search function, `publish`'s refresh and any later
function that runs a document on the instance. It ships to Lambda as a layer (template.yaml
`SsmCommandLayer`, built from functions/shared/) and is installed in the dev venv as a package.
Callers turn botocore errors, `CommandTimedOut` and an `Ending` into their own errors.
"""

from ssm_command.aws_errors import THROTTLE_CODES, error_code, is_throttle
from ssm_command.polling import (
    CommandTimedOut,
    cancel,
    poll_intervals,
    send_command,
    wait_for_invocation,
)
from ssm_command.status import RUNNING, Ending, ending
from ssm_command.targets import newest_running, tagged_instances

__all__ = [
    "RUNNING", "THROTTLE_CODES", "CommandTimedOut", "Ending", "cancel", "ending", "error_code",
    "is_throttle", "newest_running", "poll_intervals", "send_command", "tagged_instances",
    "wait_for_invocation",
]
