"""`python -m publish` against a local moto server: stack outputs in, objects out, idempotent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


def _session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                         region_name="us-east-1")


def _stack_template(site: str, gallery: str) -> str:
    """A stand-in for the deployed stack: the two buckets and the outputs publish reads."""
    return json.dumps({
        "Parameters": {"Instance": {"Type": "String"}, "Refresh": {"Type": "String"}},
        "Resources": {
            "SiteBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": site}},
            "GalleryBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": gallery}},
        },
        "Outputs": {
            "SiteBucketName": {"Value": {"Ref": "SiteBucket"}},
            "GalleryBucketName": {"Value": {"Ref": "GalleryBucket"}},
            "ApiUrl": {"Value": API_URL},
            "InstanceId": {"Value": {"Ref": "Instance"}},
            "RefreshDocumentName": {"Value": {"Ref": "Refresh"}},
        },
    })


@pytest.fixture
def deployed(moto_server) -> dict:
    """A 'deployed' stack in moto: buckets, a running tagged instance and a refresh document."""
    session = _session()
    suffix = uuid.uuid4().hex[:8]
    site, gallery, stack = f"site-{suffix}", f"gallery-{suffix}", f"stack-{suffix}"
    ec2 = session.client("ec2", endpoint_url=moto_server)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "ImageSearchRole", "Value": "search"}]}],
    )["Instances"][0]["InstanceId"]
    ssm = session.client("ssm", endpoint_url=moto_server)
    document = f"refresh-{suffix}"
    ssm.create_document(Name=document, DocumentType="Command", DocumentFormat="JSON", Content=json.dumps({
        "schemaVersion": "2.2", "description": "refresh",
        "mainSteps": [{"action": "aws:runShellScript", "name": "refresh",
                       "inputs": {"runCommand": ["imagesearch health"]}}]}))
    session.client("cloudformation", endpoint_url=moto_server).create_stack(
        StackName=stack, TemplateBody=_stack_template(site, gallery),
        Parameters=[{"ParameterKey": "Instance", "ParameterValue": instance},
                    {"ParameterKey": "Refresh", "ParameterValue": document}],
    )
    return {"endpoint": moto_server, "stack": stack, "site": site, "gallery": gallery, "instance": instance,
            "s3": session.client("s3", endpoint_url=moto_server), "ec2": ec2}


@pytest.fixture
def images(tmp_path) -> Path:
    """A tiny collection: generated textures plus an album and a file whose names need rewriting."""
    from imagesearch.model.sample_data import generate

    root = tmp_path / "images"
    generate(str(root), count=24, seed=1, size=28)
    odd = root / "my album"
    odd.mkdir()
    (root / "marble" / "marble_00000.png").replace(odd / "a b.png")
    (odd / "notes.txt").write_text("not an image: uploaded to the gallery, skipped by the index")
    return root


@pytest.fixture
def site_dir(tmp_path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><script type=module src=main.js></script>\n")
    (site / "main.js").write_text("import config from './config.js';\n")
    (site / "config.js").write_text("export default { apiUrl: '/api' };\n")  # the local one: replaced
    (site / ".hidden").write_text("never published\n")
    return site


def publish(deployed: dict, images: Path, site_dir: Path, cache: Path, *extra: str) -> tuple[str, str]:
    """Run `python -m publish` as `make publish` does, against moto; return stdout, stderr."""
    env = {**os.environ, **CREDENTIALS}
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_ENDPOINT_URL", None)  # the endpoint comes from --endpoint-url alone
    args = [sys.executable, "-m", "publish", "--endpoint-url", deployed["endpoint"],
            "--stack-name", deployed["stack"], "--samconfig",
            str(cache / "none.toml"), "--images", str(images), "--site-dir", str(site_dir),
            "--weights", "seed:0", "--size", "32", "--per-album", "2", "--cache-dir", str(cache),
            "--refresh-timeout", "30", "--quiet", *extra]
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, done.stderr


def keys(s3, bucket: str) -> dict[str, str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def test_publish_fills_the_buckets_and_a_second_run_uploads_nothing(deployed, images, site_dir, tmp_path):
    s3 = deployed["s3"]

    # GIVEN a deployed stack WHEN publishing THEN every part lands where the contracts say.
    out, _ = publish(deployed, images, site_dir, tmp_path / "cache")
    gallery, site = keys(s3, deployed["gallery"]), keys(s3, deployed["site"])
    odd_album = next(k.split("/")[1] for k in gallery if k.startswith("gallery/my_album"))
    assert "gallery/marble/marble_00001.png" in gallery
    assert any(k.startswith(f"gallery/{odd_album}/a_b") and k.endswith(".png") for k in gallery)
    assert len([k for k in gallery if k.startswith("gallery/")]) == 25  # 24 images + notes.txt

    config = s3.get_object(Bucket=deployed["site"], Key="config.js")
    assert config["Body"].read().decode() == f'export default {{ apiUrl: "{API_URL}" }};\n'
    assert config["ContentType"].startswith("text/javascript")
    assert {"index.html", "main.js", "albums.json"} <= set(site)
    assert not [k for k in site if ".hidden" in k or "notes" in k]
    # no byte copy of an original is public any more (issue 22): display copies and pages only
    assert not [k for k in site if k.startswith("albums/")]

    albums = json.loads(s3.get_object(Bucket=deployed["site"], Key="albums.json")["Body"].read())
    by_name = {a["name"]: a for a in albums["albums"]}
    assert {"marble", "wood", odd_album} <= set(by_name)
    # albums.json is small: counts, skipped files, a cover (gallery key) and the page count
    wood = by_name["wood"]
    assert wood["cover"].startswith("gallery/wood/")
    assert {**wood, "cover": None} == {"name": "wood", "count": 3, "skipped": 0, "cover": None, "pages": 1,
                                       "page_size": 100}
    assert (by_name[odd_album]["count"], by_name[odd_album]["skipped"]) == (1, 1)  # notes.txt: not an image
    for album in albums["albums"]:
        listing = s3.get_object(Bucket=deployed["site"], Key=f"listings/{album['name']}/1.json")
        page = json.loads(listing["Body"].read())
        assert page["count"] == album["count"] and album["cover"] == page["images"][0]["key"]
        for image in page["images"]:
            rest = image["key"].removeprefix("gallery/")
            assert image["key"] in gallery and f"thumbs/{rest}" in site and f"previews/{rest}" in site

    pointer = json.loads(s3.get_object(Bucket=deployed["gallery"], Key="index/current.json")["Body"].read())
    manifest = json.loads(s3.get_object(
        Bucket=deployed["gallery"], Key=f"index/{pointer['version']}/manifest.json")["Body"].read())
    assert manifest["count"] == 24
    assert albums["index"]["version"] == pointer["version"]
    assert albums["index"]["pretrained"] is False
    pointer_body = s3.get_object(Bucket=deployed["gallery"], Key="agent/current.json")["Body"].read()
    agent_pointer = json.loads(pointer_body)
    assert {"agent/bootstrap.sh", agent_pointer["key"]} <= set(gallery)
    bootstrap = s3.get_object(Bucket=deployed["gallery"], Key="agent/bootstrap.sh")["Body"].read()
    assert bootstrap == (REPO / "agent_scripts" / "bootstrap.sh").read_bytes()
    assert "refreshing" in out and deployed["instance"] in out

    # WHEN publishing again with nothing changed THEN nothing is uploaded and no index is built.
    out, _ = publish(deployed, images, site_dir, tmp_path / "cache")
    assert "total    0 uploaded" in out, out
    assert keys(s3, deployed["gallery"]) == gallery
    assert keys(s3, deployed["site"]) == site

    # WHEN one image changes THEN only it (and the index, albums.json) are published again.
    png = images / "wood" / "wood_00000.png"
    (images / "dots" / "dots_00000.png").replace(png)
    out, _ = publish(deployed, images, site_dir, tmp_path / "cache", "--no-refresh")
    assert "gallery  1 uploaded" in out and "index    1 uploaded" in out, out
    assert "refresh skipped (--no-refresh)" in out


def test_publish_skips_refresh_when_the_instance_is_stopped(deployed, images, site_dir, tmp_path):
    deployed["ec2"].stop_instances(InstanceIds=[deployed["instance"]])
    out, _ = publish(deployed, images, site_dir, tmp_path / "cache", "--no-agent", "--no-index")
    assert f"refresh skipped: instance {deployed['instance']} is stopped" in out


def test_publish_to_a_missing_stack_says_what_to_do(moto_server, tmp_path):
    env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": moto_server}
    done = subprocess.run([sys.executable, "-m", "publish", "--stack-name", "no-such-stack", "--samconfig",
                           str(tmp_path / "none.toml"), "--no-refresh"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 1
    assert "cannot read stack 'no-such-stack'" in done.stderr and "sam deploy --guided" in done.stderr
