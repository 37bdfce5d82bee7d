"""The whole product on one machine: moto S3/EC2, published buckets, daemon, SSM runner, handler, page.

Over 300 lines on purpose: it is the one place that starts every local part in order, wires them
together and stops them in reverse; each step is a short method, and splitting them across modules
would scatter that order."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack import images as collection
from devstack import index_cache
from devstack.bucket_cors import apply_cors
from devstack.daemon_proc import DaemonProcess
from devstack.demo_reindex import DEFAULT_BATCH, DemoReindex
from devstack.devserver import DevServer
from devstack.featurize_local import LocalFeaturize
from devstack.http_api import HttpApi
from devstack.ingest_queue import IngestPoller, QueueSettings, configure_notifications, create_queues
from devstack.intrinsics import LocalResources
from devstack.lambda_host import FunctionCode, LambdaHost, runtime_python
from devstack.reindex_endpoint import REINDEX_PATH, reindex_handler
from devstack.s3server import (
    DUMMY_CREDENTIALS,
    MotoServer,
    client,
    create_buckets,
    create_search_instance,
    instance_state,
    lifecycle_from_template,
)
from devstack.site_headers import site_security_headers
from devstack.ssm_client import LocalSSM, from_template
from devstack.ssm_document import Document
from devstack.ssm_endpoint import SsmEndpoint
from publish.template import (
    INGEST_FUNCTION,
    SEARCH_FUNCTION,
    function_environment,
    function_property,
    ingest_document,
    load_template,
)

REPO = Path(__file__).resolve().parents[2]
SITE_BUCKET = "imagesearch-local-site"
GALLERY_BUCKET = "imagesearch-local-gallery"
DOCUMENT_NAME = "imagesearch-local-SearchDocument"
INGEST_DOCUMENT_NAME = "imagesearch-local-IngestDocument"
INGEST_QUEUE = "imagesearch-local-ingest"
# What `!Ref <logical id>` names here, for the template values the local stack reads.
LOCAL_NAMES = {"SiteBucket": SITE_BUCKET, "GalleryBucket": GALLERY_BUCKET, "SearchDocument": DOCUMENT_NAME,
               "IngestDocument": INGEST_DOCUMENT_NAME, "AWS::StackName": "imagesearch-local"}
API_URL = "/api"
# Local containers per function at most (Lambda's concurrency limit, scaled to one machine).
SEARCH_CONTAINERS = 4
INGEST_CONTAINERS = 2
DEMO_WEIGHTS = "seed:0"

Say = Callable[[str], None]


@dataclass
class StackConfig:
    """What `python -m devstack` was asked for."""

    images: Path | None = None
    count: int = collection.DEFAULT_COUNT
    port: int = 0
    host: str = "127.0.0.1"
    work_dir: Path = Path(".demo")
    per_album: int | None = None
    repo: Path = REPO
    daemon_timeout_s: float = 600.0
    progress: bool = False
    # None: the seeded demo weights (offline); "pretrained" or FILE.params go through publish's
    # fetch-and-verify path (the fetched file is cached in $MXNET_HOME/models after the first run).
    weights: str | None = None
    # Shorter than the template's 20 s window and 30 min visibility: nobody waits that long locally.
    ingest_window_s: float = 3.0
    ingest_visibility_s: int = 30
    # The page's re-index (issue 25): the featurize function's local containers (0: not offered)
    # and the images per featurize batch.
    featurize_containers: int = 2
    reindex_batch: int = DEFAULT_BATCH


@dataclass
class LocalStack:
    """Start with start(), stop with stop() (idempotent; also a context manager)."""

    config: StackConfig
    say: Say = print
    moto: MotoServer | None = None
    server: DevServer | None = None
    daemon: DaemonProcess | None = None
    ssm: SsmEndpoint | None = None
    ingest_ssm: SsmEndpoint | None = None
    ingest: IngestPoller | None = None
    reindex: DemoReindex | None = None
    featurize: LocalFeaturize | None = None
    hosts: list[LambdaHost] = field(default_factory=list)
    instance_id: str = ""
    fresh_token: str = ""
    images_dir: Path | None = None
    _tmp: str | None = None
    _template: dict = field(default_factory=dict)
    _started: float = 0.0
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The page's URL."""
        return self.server.url + "/" if self.server else ""

    @property
    def endpoint_url(self) -> str:
        """moto's URL (S3 and EC2)."""
        return self.moto.endpoint_url if self.moto else ""

    def describe(self) -> dict:
        """Where everything is, for tests and scripts (--ready-file)."""
        queues = self.ingest.queues if self.ingest else None
        return {"url": self.url, "api": self.url.rstrip("/") + API_URL, "s3_endpoint": self.endpoint_url,
                "site_bucket": SITE_BUCKET, "gallery_bucket": GALLERY_BUCKET, "document": DOCUMENT_NAME,
                "instance_id": self.instance_id, "images": str(self.images_dir), "pid": os.getpid(),
                "fresh_token": self.fresh_token,
                "ingest_queue": queues.url if queues else "",
                "dead_letter_queue": queues.dead_letter_url if queues else "",
                "reindex": self.url.rstrip("/") + REINDEX_PATH if self.reindex else "",
                "add_images": self.add_images_command()}

    def add_images_command(self, folder: str = "path/to/albums") -> str:
        """The one command that adds a folder of albums to the running gallery."""
        return (f"{Path(sys.executable)} -m devstack.add_images --endpoint {self.endpoint_url} "
                f"--bucket {GALLERY_BUCKET} {folder}")

    def _step(self, name: str, fn: Callable[[], object]) -> object:
        started = time.monotonic()
        result = fn()
        self.timings_s[name] = time.monotonic() - started
        return result

    def start(self) -> LocalStack:
        """Bring every part up in dependency order; on any failure, tear down what started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        cfg = self.config
        self._started = time.monotonic()
        work = Path(cfg.work_dir).resolve()
        work.mkdir(parents=True, exist_ok=True)
        # AF_UNIX paths are limited to ~108 bytes: the socket lives in a short temporary folder.
        self._tmp = tempfile.mkdtemp(prefix="devstack-")

        template = self._template = load_template(cfg.repo / "template.yaml")
        self.moto = MotoServer()
        endpoint = self.moto.start()
        self.say(f"moto (S3, EC2) on {endpoint}")
        s3, ec2 = client("s3", endpoint), client("ec2", endpoint)
        # Bound now (it serves at the end): its origin is the site's URL in the function's settings.
        self.server = DevServer(cfg.host, cfg.port, s3, SITE_BUCKET)
        local = self._local_resources(endpoint)
        function_env = local.resolve_all(function_environment(template, SEARCH_FUNCTION))
        create_buckets(s3, SITE_BUCKET, GALLERY_BUCKET)
        # The operator's token for "fresh" searches, as on AWS a SecureString the function reads;
        # `make smoke` reads it back from moto (docs/function.md, "Fresh").
        self.fresh_token = secrets.token_hex(16)
        client("ssm", endpoint).put_parameter(Name=function_env["FRESH_TOKEN_PARAMETER"], Type="SecureString",
                                              Value=self.fresh_token)
        # The site bucket's rules as deployed (results/ expire): `make smoke` checks they exist.
        s3.put_bucket_lifecycle_configuration(
            Bucket=SITE_BUCKET, LifecycleConfiguration=lifecycle_from_template(template, "SiteBucket"))
        # The page uploads query images straight to the gallery bucket: the template's CORS rule.
        apply_cors(s3, GALLERY_BUCKET, template, "GalleryBucket", local.resolve)
        self.instance_id = create_search_instance(ec2, function_env["INSTANCE_TAG_KEY"],
                                                  function_env["INSTANCE_TAG_VALUE"])

        if cfg.images is not None:
            self.images_dir = collection.user_collection(cfg.images)
        else:
            self.say(f"sample collection: {cfg.count} images (cached in {work})")
            self.images_dir = self._step("samples", lambda: collection.sample_collection(work, cfg.count))
        self.say(f"publishing {self.images_dir} to the buckets (the index is built once per image set)")
        self._step("publish", lambda: self._publish_at_start(s3, work))

        env = self._agent_env(endpoint, work)
        self.daemon = DaemonProcess(env, env["IMAGESEARCH_SOCKET"], work / "logs" / "daemon.log")
        self.daemon.start()
        self.say(f"daemon starting (log: {self.daemon.log_path})")
        health = self._step("daemon", lambda: self.daemon.wait_healthy(cfg.daemon_timeout_s))
        self.say(f"daemon healthy: {json.dumps(_short_health(health))}")
        self.daemon.supervise(self.say)

        env_file = Path(self._tmp) / "imagesearch.env"  # per stack: two stacks may share a work dir
        # On the instance the thin client's settings come from this file (SSM passes only SSM_*).
        agent_settings = {k: v for k, v in env.items()
                          if k.startswith("IMAGESEARCH_")
                          or k in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "GALLERY_BUCKET", "SITE_BUCKET")}
        env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(agent_settings.items())))
        # SSM Run Command for the SearchDocument, on an endpoint of its own the function's boto3 reaches.
        runner = from_template(template, DOCUMENT_NAME, [self.instance_id], env=self._runner_env(env_file),
                               workdir=Path(self._tmp),
                               instance_state=lambda instance_id: instance_state(ec2, instance_id))
        # Parameter Store (the fresh token) is moto's, reached through the same SSM endpoint.
        self.ssm = SsmEndpoint(runner, parameters=client("ssm", endpoint))
        ssm_url = self.ssm.start()

        # The function as the template defines it (code, layers, handler, timeout, memory, runtime,
        # environment), its containers started on demand.
        runtime = str(function_property(template, SEARCH_FUNCTION, "Runtime"))
        python = runtime_python(runtime, cfg.repo)
        self.say(f"functions: a process per container, started on demand, on {python}"
                 + ("" if python != sys.executable else f" (no {runtime} environment: this interpreter)"))
        host = self._host(template, SEARCH_FUNCTION, python,
                          {**function_env, **self._local_env(endpoint, ssm_url)}, SEARCH_CONTAINERS)
        self.server.set_api(HttpApi.from_template(template, SEARCH_FUNCTION, local.resolve), host.invoke)
        # The distribution's security headers (CSP included) on every page answer, as in AWS.
        self.server.security_headers = site_security_headers(template, local.resolve)
        self._step("ingest", lambda: self._start_ingest(template, s3, endpoint, env_file, python))
        if cfg.featurize_containers:
            self._offer_reindex(endpoint)
        self.server.start()
        self.timings_s["total"] = time.monotonic() - self._started
        self.say("ready in " + ", ".join(f"{name} {s:.1f} s" for name, s in self.timings_s.items()))
        self.say("add images to the running gallery (searchable within a minute):\n  "
                 + self.add_images_command())

    def _host(self, template: dict, function_id: str, python: str, env: dict[str, str],
              containers: int) -> LambdaHost:
        """The function's local Lambda host (stopped with the stack)."""
        code = FunctionCode.from_template(template, function_id, self.config.repo,
                                          name=f"imagesearch-local-{function_id}")
        host = LambdaHost(code, env, python=python, max_containers=containers)
        self.hosts.append(host)
        return host

    def _start_ingest(self, template: dict, s3, endpoint: str, env_file: Path, python: str) -> None:
        """Gallery events -> moto SQS -> the ingest handler (its own processes) -> IngestDocument runner."""
        settings = QueueSettings.from_template(template, window_s=self.config.ingest_window_s,
                                               visibility_s=self.config.ingest_visibility_s)
        sqs = client("sqs", endpoint)
        queues = create_queues(sqs, INGEST_QUEUE, settings)
        local = LocalResources(refs={**LOCAL_NAMES, "IngestQueue": queues.url},
                               attributes={("IngestQueue", "Arn"): queues.arn})
        configure_notifications(s3, template, local.resolve)
        document = Document.from_content(INGEST_DOCUMENT_NAME, ingest_document(template))
        self.ingest_ssm = SsmEndpoint(LocalSSM(document, [self.instance_id], env=self._runner_env(env_file),
                                               workdir=Path(self._tmp)))
        ssm_url = self.ingest_ssm.start()
        env = local.resolve_all(function_environment(template, INGEST_FUNCTION))
        if self.config.per_album:
            env["PER_ALBUM"] = str(self.config.per_album)
        host = self._host(template, INGEST_FUNCTION, python, {**env, **self._local_env(endpoint, ssm_url)},
                          INGEST_CONTAINERS)
        self.ingest = IngestPoller(sqs, queues, settings, host.invoke).start()
        self.say(f"ingest: gallery/ events -> {INGEST_QUEUE} (batches of {settings.batch_size} within "
                 f"{settings.window_s:g} s) -> IngestDocument")

    def _publish(self, s3, work: Path, **steps) -> object:
        """Publish with the publisher's own publish_all (no agent bundle); `steps`: e.g. the re-index's
        index_step. The same options at start and for every re-index, so both publish the same site."""
        from publish.core import publish_all

        cfg = self.config
        options = {"per_album": cfg.per_album} if cfg.per_album else {}
        # Only this stack offers the page's re-index, through a config.js field a deploy never writes.
        site_config = {"localReindex": REINDEX_PATH} if cfg.featurize_containers else None
        # Without --weights the demo stays offline: a seeded initialisation, labelled as such.
        report = publish_all(s3, site_bucket=SITE_BUCKET, gallery_bucket=GALLERY_BUCKET, api_url=API_URL,
                             site_dir=cfg.repo / "site", images_dir=self.images_dir,
                             weights=cfg.weights or DEMO_WEIGHTS, agent=False, progress=cfg.progress,
                             index_options={"work_dir": work / "cache" / "publish"}, site_config=site_config,
                             **options, **steps)
        for line in report.lines():
            self.say("  " + line)
        return report

    def _publish_at_start(self, s3, work: Path) -> None:
        """The start's publish, around the index cache (which keeps what a build made of the images
        folder; a re-index's version, made from the gallery bucket, is not saved there)."""
        saved = index_cache.snapshot_dir(work, self.images_dir)
        if index_cache.restore(s3, GALLERY_BUCKET, saved):
            self.say("  index    restored the last run's index; the publisher checks it against the images")
        report = self._publish(s3, work)
        if report.steps["index"].uploaded:
            index_cache.save(s3, GALLERY_BUCKET, saved)

    def _offer_reindex(self, endpoint: str) -> None:
        """The page's re-index: POST/GET /local/reindex on the dev server (local only, docs/local.md)."""
        cfg = self.config
        s3 = client("s3", endpoint)
        work = Path(cfg.work_dir).resolve()
        self.reindex = DemoReindex(
            s3=s3, sqs=client("sqs", endpoint), bucket=GALLERY_BUCKET,
            publish=lambda index_step: self._publish(s3, work, index_step=index_step),
            featurize=lambda: self._featurize(endpoint), reload=self._reload_daemon,
            batch_size=cfg.reindex_batch, say=self.say)
        self.server.local_routes[REINDEX_PATH] = reindex_handler(self.reindex, self.server.url)
        self.say(f"re-index: the page's Re-index button (POST {REINDEX_PATH}) featurizes the gallery "
                 f"through the featurize function in up to {cfg.featurize_containers} local containers")

    def _featurize(self, endpoint: str) -> LocalFeaturize:
        """The featurize queue and function, started by the first re-index and kept for the next."""
        if self.featurize is None:
            self.featurize = LocalFeaturize.start(self._template, self.config.repo, endpoint, GALLERY_BUCKET,
                                                  containers=self.config.featurize_containers)
        return self.featurize

    def _reload_daemon(self) -> dict:
        """What publish's refresh asks of the instance: reload the index now (not at the next poll)."""
        from imagesearch.agent.client import ask_daemon
        from imagesearch.agent.protocol import Request

        answer = ask_daemon(self.daemon.socket_path, Request("reload"), timeout=120.0)
        if not answer.get("ok", True) or "error" in answer:
            raise RuntimeError(f"the daemon did not load the new version: {answer.get('error')}")
        return answer

    def _agent_env(self, endpoint: str, work: Path) -> dict[str, str]:
        """The daemon's environment: the index in the gallery bucket, reached through moto."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IMAGESEARCH_"))}
        env.update(DUMMY_CREDENTIALS)
        env.update({
            "AWS_ENDPOINT_URL": endpoint,
            "IMAGESEARCH_INDEX": f"s3://{GALLERY_BUCKET}/index",
            "IMAGESEARCH_SOCKET": str(Path(self._tmp) / "daemon.sock"),
            "IMAGESEARCH_CACHE_DIR": str(work / "cache" / "daemon"),
            "IMAGESEARCH_COLD_CACHE_DIR": str(work / "cache" / "cold"),
            "IMAGESEARCH_ALLOWED_BUCKETS": GALLERY_BUCKET,
            "GALLERY_BUCKET": GALLERY_BUCKET,
            "SITE_BUCKET": SITE_BUCKET,  # ingest writes display copies, album pages and duplicates.json
        })
        return env

    def _runner_env(self, env_file: Path) -> dict[str, str]:
        """What a script run by SSM sees: a bare environment; the agent's settings come from its env file."""
        env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": os.environ.get("LANG", "C.UTF-8"),
               "HOME": self._tmp, "IMAGESEARCH_ENV_FILE": str(env_file)}
        # On the instance the credentials come from the instance profile; here moto takes dummies.
        env.update({k: v for k, v in DUMMY_CREDENTIALS.items() if "REGION" not in k})
        return env

    def _local_resources(self, endpoint: str) -> LocalResources:
        """The template's resources under their local names: the page's origin is the dev server's."""
        return local_resources(self.server.url if self.server else "", endpoint)

    def _local_env(self, endpoint: str, ssm_url: str) -> dict[str, str]:
        """What differs here from Lambda: moto's endpoint (S3, EC2), the SSM stand-in's endpoint,
        dummy credentials, no X-Ray daemon to trace to."""
        return {**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_SSM": ssm_url,
                "POWERTOOLS_TRACE_DISABLED": "true"}

    def stop(self) -> None:
        """Stop the dev server, the SSM runner, the daemon and moto; remove temporary files."""
        self._stop_parts("server", "reindex", "featurize", "ingest")  # nothing new comes in
        for host in self.hosts:
            host.close()
        self.hosts.clear()
        self._stop_parts("ingest_ssm", "ssm", "daemon", "moto")
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _stop_parts(self, *names: str) -> None:
        """Stop each started part named, in order, and forget it (stop() may run again)."""
        for name in names:
            part = getattr(self, name)
            if part is not None:
                part.stop()
                setattr(self, name, None)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def local_resources(origin: str, endpoint: str) -> LocalResources:
    """The template's names here: the page's origin (SiteOrigin) is the dev server's, where the API
    is /api; the gallery bucket's S3 endpoints (the CSP's upload hosts) are moto's."""
    subs = {
        "https://${SearchApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}": origin,
        "https://${GalleryBucket}.s3.${AWS::Region}.amazonaws.com": endpoint,
        "https://${GalleryBucket}.s3.amazonaws.com": endpoint,
    }
    return LocalResources(refs={**LOCAL_NAMES, "SiteOrigin": origin}, subs=subs)


def _short_health(health: dict) -> dict:
    keep = ("version", "count", "mode", "pretrained", "index")
    return {k: health[k] for k in keep if k in health} or health
