"""moto in server mode on loopback: the stack's S3 (and the EC2 the Lambda discovers) over real HTTP."""

from __future__ import annotations

import functools
import logging
import threading

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

# Moto accepts any credentials; these only keep botocore from looking for real ones.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - a placeholder moto accepts, not a secret
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
REGION = DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"]
# Moto ships this AMI in every region; the image itself is never booted.
DEMO_AMI = "ami-12c6146b"


def share_service_models() -> None:
    """Read each AWS service's model (botocore's JSON files) once per process, not once per session.

    moto makes a new boto3 session for every backend it creates (to list the service's regions),
    and its mocks put a new default session in place for every test; each new session read the
    service models again (EC2's alone is megabytes of JSON). py-spy over `make test` found threads
    in that reading for about 80 s (runnable time, on two busy cores); tests/unit/agent and
    tests/unit/publish in one process took 77 CPU-seconds before, 64 after. Sessions made after this
    share one data loader, which keeps what it has read; the models are only read, never changed.
    """
    if botocore.session.create_loader is botocore.loaders.create_loader:  # not shared yet
        botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)


class _PerObjectLock:
    """WSGI middleware: one request at a time per S3 object path.

    moto's S3 is not safe for concurrent writes of the same key: two copy_object calls onto one
    results/ key (two searches returning the same match) can close the buffer the other is
    reading and answer 500. Real S3 takes them in any order, so serialising per object keeps the
    local stack as forgiving as AWS without serialising unrelated requests.
    """

    def __init__(self, app) -> None:
        self._app = app
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def _lock(self, environ: dict) -> threading.Lock | None:
        path = environ.get("PATH_INFO", "")
        if path.strip("/").count("/") < 1:
            return None  # service calls (EC2, ListBuckets) and bucket-level calls run freely
        key = (environ.get("HTTP_HOST", ""), path)
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def __call__(self, environ, start_response):
        lock = self._lock(environ)
        if lock is None:
            return self._app(environ, start_response)
        with lock:
            # moto builds the whole body before returning, so the lock covers the object access.
            return list(self._app(environ, start_response))


class MotoServer:
    """moto's server app on 127.0.0.1 in a thread (port 0 picks a free one); a context manager."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server = None
        self._thread: threading.Thread | None = None
        self.endpoint_url = ""

    def start(self) -> str:
        """Start serving and return the endpoint URL."""
        # Werkzeug logs every request to stderr; the stack's own output is what a user needs to see.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        share_service_models()
        app = _PerObjectLock(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", self._port, app, threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        """Stop serving, join the server thread and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._server.server_close()
            self._server = None
            self.endpoint_url = ""

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def client(service: str, endpoint_url: str, *, max_pool: int = 32):
    """A boto3 client for the moto endpoint, with dummy credentials (never the caller's)."""
    return boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    ).client(service, endpoint_url=endpoint_url,
             config=Config(max_pool_connections=max_pool, retries={"mode": "standard"}))


def create_buckets(s3, *buckets: str) -> None:
    """Create the buckets (us-east-1 takes no location constraint)."""
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)


def create_search_instance(ec2, tag_key: str, tag_value: str) -> str:
    """Run one instance tagged for search, as the template does, and return its id."""
    reservation = ec2.run_instances(
        ImageId=DEMO_AMI, InstanceType="t3.medium", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": tag_key, "Value": tag_value},
                                     {"Key": "Name", "Value": "imagesearch-local"}]}],
    )
    return reservation["Instances"][0]["InstanceId"]


def lifecycle_from_template(template: dict, logical_id: str) -> dict:
    """A bucket's LifecycleConfiguration in template.yaml as the S3 API takes it (parameters: defaults)."""
    from publish.template import resource_properties

    params = template.get("Parameters") or {}

    def value(v: object) -> object:
        if isinstance(v, dict) and set(v) == {"Ref"} and v["Ref"] in params:
            return params[v["Ref"]]["Default"]
        return v

    rules = []
    props = resource_properties(template, logical_id, "AWS::S3::Bucket")
    for rule in props["LifecycleConfiguration"]["Rules"]:
        out = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
        if "ExpirationInDays" in rule:
            out["Expiration"] = {"Days": int(value(rule["ExpirationInDays"]))}
        if "AbortIncompleteMultipartUpload" in rule:
            days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(value(days))}
        rules.append(out)
    return {"Rules": rules}


def instance_state(ec2, instance_id: str) -> str:
    """The instance's EC2 state name (running, stopped, ...) in the local EC2."""
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]
