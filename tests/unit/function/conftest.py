"""Fixtures for the search Lambda: its environment, a Lambda context, events by name, fake time."""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

REPO = Path(__file__).resolve().parents[3]
FUNCTION_DIR = REPO / "functions" / "search"
# The layer the function shares with others (template.yaml SsmCommandLayer); /opt/python on Lambda.
SHARED_DIR = REPO / "functions" / "shared"
EVENTS_DIR = REPO / "events"

# Powertools' Tracer imports the X-Ray SDK, whose recorder creates (and with tracing disabled never
# uses) a UDP socket. Import it here, before each test disables sockets; no packet is ever sent.
import aws_xray_sdk.core  # noqa: E402,F401

# The Lambda's modules are top-level modules in its package (Handler: app.lambda_handler), and the
# layer's package is importable beside them, as on Lambda (the runtime venv has no editable install).
for _path in (SHARED_DIR, FUNCTION_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
# A few tests compare the function with the engine (the same accepted formats, a real preview). The
# runtime venv (python3.12, where `make test` runs this folder) has no editable install of the engine,
# so its source is put at the end of the path: the modules they use need only Pillow, pillow-heif and
# numpy, which the runtime venv has (the featurize layer's), never MXNet.
try:
    import imagesearch  # noqa: F401
except ImportError:
    sys.path.append(str(REPO / "agent_scripts"))

SITE_BUCKET = "test-site-bucket"
GALLERY_BUCKET = "test-gallery-bucket"
DOCUMENT = "ImageSearch-Search"
REGION = "us-east-1"

FUNCTION_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "image-search-test",
    "POWERTOOLS_METRICS_NAMESPACE": "ImageSearchTest",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "SITE_BUCKET": SITE_BUCKET,
    "GALLERY_BUCKET": GALLERY_BUCKET,
    "SEARCH_DOCUMENT_NAME": DOCUMENT,
    "PUBLIC_BASE_URL": "https://site.example/",
    "INSTANCE_TAG_KEY": "ImageSearchRole",
    "INSTANCE_TAG_VALUE": "search",
    "COPY_WORKERS": "10",
    "DEADLINE_SECONDS": "25",
    "INSTANCE_CACHE_SECONDS": "0",
}


@pytest.fixture(autouse=True)
def function_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment the template gives the function, with fake credentials and no endpoint override."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SSM",
                 "AWS_ENDPOINT_URL_EC2", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in FUNCTION_ENV.items():
        monkeypatch.setenv(name, value)
    # Not the function's: moto's EC2 otherwise loads its ~2,600 default AMIs for every test (about
    # 0.4 s each, 15 s of this folder); the tests launch instances from an id moto accepts anyway.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    return dict(FUNCTION_ENV)


@dataclass
class FakeLambdaContext:
    function_name: str = "image-search-SearchFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:image-search-SearchFunction"
    aws_request_id: str = "5b1b4c61-0000-4000-8000-000000000000"
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A Lambda context with 30 s left, as the function gets it behind the HTTP API."""
    return FakeLambdaContext()


def _load_event(name: str) -> dict:
    path = EVENTS_DIR / (name if name.endswith(".json") else name + ".json")
    return json.loads(path.read_text())


@pytest.fixture
def load_event():
    """The helper that loads an HTTP API v2 event from events/ by name (with or without .json)."""
    return _load_event


@dataclass
class FakeTime:
    """A monotonic clock that only moves when something sleeps (records every sleep)."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    jump: float | None = None  # when set, every sleep moves the clock by this much instead

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += self.jump if self.jump is not None else seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def search_app(function_env):
    """The app module, imported under the function's environment; its clients restored afterwards."""
    import app

    saved = (app._service.clients, app._service.clock, app._service.sleep)
    yield app
    app.use_clients(saved[0])
    app._service.clock, app._service.sleep = saved[1], saved[2]



def preview_key(gallery_key: str) -> str:
    """The site bucket's preview of a gallery image (what the copier copies)."""
    return "previews/" + gallery_key.removeprefix("gallery/")


QUERY_KEY = "albums/marble/marble_0001.png"
QUERY_IMAGE = "gallery/marble/marble_0001.png"  # where the query key's image is (the gallery bucket)
GALLERY_KEYS = [f"gallery/marble/marble_{i:04d}.png" for i in range(2, 14)]
COMMAND_ID = "0b9a5e1e-3c4d-4f5e-8a7b-1c2d3e4f5a6b"
INSTANCE_ID = "i-0123456789abcdef0"
INSTANCE_TAGS = [{"Key": "ImageSearchRole", "Value": "search"}]


def launch_instance(ec2, tags=INSTANCE_TAGS, stop: bool = False) -> str:
    """Run one moto instance with `tags` (stopped if asked); its id."""
    spec = [{"ResourceType": "instance", "Tags": tags}] if tags else []
    instance_id = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.medium",
                                    TagSpecifications=spec)["Instances"][0]["InstanceId"]
    if stop:
        ec2.stop_instances(InstanceIds=[instance_id])
    return instance_id


@functools.cache
def _session() -> boto3.Session:
    """One boto3 session for the folder's clients: it keeps the service models it has read. moto
    starts each test on a new default session, which read EC2's model again for every client (0.06 s
    a client, 40% of this folder's time)."""
    return boto3.Session(region_name=REGION)


def aws_client(service: str, **kwargs) -> Any:
    """A boto3 client of the shared session (moto's mock intercepts it like any other)."""
    return _session().client(service, **kwargs)


@pytest.fixture
def aws(function_env):
    """moto S3 and EC2: both buckets, a dozen gallery images with their previews in the site bucket, the
    query image (albums/marble/marble_0001.png names gallery/marble/marble_0001.png) in the gallery
    with its preview."""
    with mock_aws():
        s3, ec2 = aws_client("s3"), aws_client("ec2")
        s3.create_bucket(Bucket=SITE_BUCKET)
        s3.create_bucket(Bucket=GALLERY_BUCKET)
        for key in GALLERY_KEYS:
            s3.put_object(Bucket=GALLERY_BUCKET, Key=key, Body=key.encode(), ContentType="image/png")
            s3.put_object(Bucket=SITE_BUCKET, Key=preview_key(key), Body=b"preview of " + key.encode(),
                          ContentType="image/jpeg", CacheControl="public, max-age=86400")
        s3.put_object(Bucket=GALLERY_BUCKET, Key=QUERY_IMAGE, Body=b"query", ContentType="image/png")
        # The query image is listed on the page, so it has a preview (what makes it searchable).
        s3.put_object(Bucket=SITE_BUCKET, Key=preview_key(QUERY_IMAGE), Body=b"preview of the query",
                      ContentType="image/jpeg")
        yield SimpleNamespace(s3=s3, ec2=ec2, launch=lambda **kw: launch_instance(ec2, **kw))


@pytest.fixture
def ssm_stub(function_env):
    """A real SSM client whose answers come from a botocore Stubber queue (no network)."""
    client = aws_client("ssm")
    with Stubber(client) as stubber:
        yield SimpleNamespace(client=client, stubber=stubber)


# The bands the stand-in agent gives its matches: first, second, then the rest.
AGENT_BANDS = ("near_duplicate", "similar", "weak")


def agent_stdout(keys=GALLERY_KEYS[:5], path: str = "warm", total: float = 12.5) -> str:
    """What the thin client prints for a successful search (docs/contracts.md, "Agent output")."""
    return json.dumps({
        "ok": True,
        "results": [{"key": key, "score": round(0.99 - i * 0.01, 4), "band": AGENT_BANDS[min(i, 2)]}
                    for i, key in enumerate(keys)],
        "index": {"version": "v1", "count": len(GALLERY_KEYS), "mode": "lsh"},
        "timings_ms": {"featurize": 8.0, "search": 1.5, "total": total},
        "path": path,
    })


def invocation(status: str, details: str | None = None, stdout: str = "", stderr: str = "",
               code: int = 0, command_id: str = COMMAND_ID, instance_id: str = INSTANCE_ID) -> dict:
    """A GetCommandInvocation answer with the given status."""
    return {"CommandId": command_id, "InstanceId": instance_id, "DocumentName": DOCUMENT,
            "Status": status, "StatusDetails": details or status, "ResponseCode": code,
            "StandardOutputContent": stdout, "StandardErrorContent": stderr}


def send_answer(command_id: str = COMMAND_ID) -> dict:
    """A SendCommand answer."""
    return {"Command": {"CommandId": command_id, "DocumentName": DOCUMENT, "Status": "Pending"}}


@pytest.fixture
def ssm_answers():
    """Builders for SSM answers and agent output, shared by the test modules."""
    return SimpleNamespace(agent_stdout=agent_stdout, invocation=invocation, send=send_answer,
                           query_key=QUERY_KEY, query_image=QUERY_IMAGE, command_id=COMMAND_ID,
                           gallery_keys=GALLERY_KEYS,
                           document=DOCUMENT, site_bucket=SITE_BUCKET, gallery_bucket=GALLERY_BUCKET)


FRESH_PARAMETER = "/imagesearch-test/fresh-token"
FRESH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture
def fresh_token(aws, monkeypatch):
    """The operator's fresh token as a SecureString in moto's Parameter Store, named by the setting."""
    ssm = aws_client("ssm")
    ssm.put_parameter(Name=FRESH_PARAMETER, Value=FRESH_TOKEN, Type="SecureString")
    monkeypatch.setenv("FRESH_TOKEN_PARAMETER", FRESH_PARAMETER)
    return SimpleNamespace(ssm=ssm, parameter=FRESH_PARAMETER, token=FRESH_TOKEN,
                           header={"x-imagesearch-fresh-token": FRESH_TOKEN})
