"""`make smoke` against the running local stack: stage percentiles and the three access checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from publish.smoke import STAGES, expiry_rule, percentile

from .conftest import REPO

pytestmark = pytest.mark.integration


def test_smoke_against_the_local_stack(local_stack):
    done = subprocess.run(
        [sys.executable, "-m", "publish.smoke", "--url", local_stack["url"], "--s3-endpoint",
         local_stack["s3_endpoint"], "--searches", "6", "--seed", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "6 of 6 searches answered" in out and out.rstrip().endswith("smoke: ok")
    rows = {words[0]: words[1:] for words in map(str.split, out.splitlines()) if words and words[0] in STAGES}
    for stage in STAGES:
        p50, p95 = map(float, rows[stage])
        assert 0 <= p50 <= p95
    assert "result URLs publicly readable: 30 of 30" in out
    assert "gallery object read anonymously: HTTP 404" in out
    assert "results expiry rule: ExpireResults expires results/ after 1 day(s)" in out


def test_smoke_fails_when_the_expiry_rule_is_gone(local_stack, stack_s3):
    site = local_stack["site_bucket"]
    saved = stack_s3.get_bucket_lifecycle_configuration(Bucket=site)["Rules"]
    stack_s3.delete_bucket_lifecycle(Bucket=site)
    try:
        assert expiry_rule(stack_s3, site) is None
        done = subprocess.run(
            [sys.executable, "-m", "publish.smoke", "--url", local_stack["url"], "--s3-endpoint",
             local_stack["s3_endpoint"], "--searches", "1"],
            capture_output=True, text=True, cwd=REPO, timeout=600)
        assert done.returncode == 1 and "no enabled rule expiring results/" in done.stdout
    finally:
        stack_s3.put_bucket_lifecycle_configuration(Bucket=site, LifecycleConfiguration={"Rules": saved})


def test_make_smoke_passes_url_and_endpoint():
    done = subprocess.run(["make", "-n", "smoke", "URL=http://h/", "S3=http://m", "N=3"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    command = " ".join(done.stdout.split())
    assert "-m publish.smoke --url http://h/ --s3-endpoint http://m --searches 3" in command
    done = subprocess.run(["make", "-n", "smoke", "URL=http://h/", "S3=http://m", "SITE=my-site"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert "--url http://h/ --s3-endpoint http://m --site-bucket my-site" in done.stdout


def test_the_deployment_tool_does_not_import_the_local_stand_in():
    # publish.smoke is a deployment tool: it reaches a stack by its URLs, never through devstack.
    script = "import sys, publish.smoke; print(sorted(m for m in sys.modules if m.startswith('devstack')))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([5], 95) == 5
    assert percentile(list(range(101)), 95) == 95
