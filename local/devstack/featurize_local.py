"""The featurize queue on this machine: moto's SQS, pollers playing Lambda's SQS event source, and
the function's own code (template's CodeUri, layers, handler, timeout, memory, runtime,
environment) in the local Lambda host with N containers, so `imagesearch reindex` runs here as on AWS.

It uses the host's public surface (`FunctionCode.from_template`, `LambdaHost`, `runtime_python`:
each container its own process on the template's runtime where .venv-runtime has it) and the
ingest path's queue pieces (`create_queues`, the poller); one poller per container, so N batches
run at once, as N concurrent executions would. The handler makes its own clients, reaching moto
through AWS_ENDPOINT_URL in its environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devstack.ingest_queue import IngestPoller, LocalQueues, QueueSettings, create_queues
from devstack.intrinsics import LocalResources
from devstack.lambda_host import FunctionCode, LambdaHost, runtime_python
from devstack.s3server import DUMMY_CREDENTIALS, client
from publish.template import function_environment, function_property, resource_properties

FUNCTION, QUEUE, EVENT_SOURCE = "FeaturizeFunction", "FeaturizeQueue", "FeaturizeEventSource"


def queue_settings(template: dict, *, visibility_s: int = 60) -> QueueSettings:
    """The template's batch size and maxReceiveCount; no batching window; a short visibility timeout."""
    source = resource_properties(template, EVENT_SOURCE, "AWS::Lambda::EventSourceMapping")
    queue = resource_properties(template, QUEUE, "AWS::SQS::Queue")
    return QueueSettings(batch_size=int(source.get("BatchSize", 10)), window_s=0.0, visibility_s=visibility_s,
                         max_receive=int(queue["RedrivePolicy"]["maxReceiveCount"]))


@dataclass
class LocalFeaturize:
    """A running local featurize path: its queue (URL for `imagesearch reindex`) and its pollers."""

    queues: LocalQueues
    host: LambdaHost
    pollers: list[IngestPoller] = field(default_factory=list)

    @classmethod
    def start(cls, template: dict, repo: Path, endpoint: str, gallery_bucket: str, *,
              containers: int = 2, visibility_s: int = 60) -> LocalFeaturize:
        """Queues in moto, up to `containers` containers of the function (started on demand), a poller
        each."""
        sqs = client("sqs", endpoint)
        settings = queue_settings(template, visibility_s=visibility_s)
        queues = create_queues(sqs, "featurize", settings)
        local = LocalResources(refs={"GalleryBucket": gallery_bucket})
        env = {**local.resolve_all(function_environment(template, FUNCTION)), **DUMMY_CREDENTIALS,
               "AWS_ENDPOINT_URL": endpoint, "POWERTOOLS_TRACE_DISABLED": "true"}
        python = runtime_python(str(function_property(template, FUNCTION, "Runtime")), repo)
        code = FunctionCode.from_template(template, FUNCTION, repo, name="imagesearch-local-featurize")
        host = LambdaHost(code, env, python=python, max_containers=containers)
        pollers = [IngestPoller(sqs, queues, settings, host.invoke).start() for _ in range(containers)]
        return cls(queues, host, pollers)

    @property
    def batches(self) -> list[dict]:
        """One summary per invocation, from every poller."""
        return [b for p in self.pollers for b in p.batches]

    def stop(self) -> None:
        """Stop every poller after the batch in hand, then the function's containers."""
        for poller in self.pollers:
            poller.stop()
        self.host.close()
