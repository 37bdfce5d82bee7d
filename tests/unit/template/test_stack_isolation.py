"""Two stacks in one account and region: each function finds, and may command, only its own instance.

The instance's tag, the function's INSTANCE_TAG_VALUE and the IAM condition on ssm:SendCommand are
all read from template.yaml and resolved for two stack names, as CloudFormation would; the
instances run in moto's EC2 and the function's own instance lookup picks among them.
"""

from __future__ import annotations

import sys

import boto3
import pytest
from devstack.intrinsics import LocalResources
from moto import mock_aws

from publish.template import SEARCH_FUNCTION, TEMPLATE, function_environment, load_template

FUNCTIONS = TEMPLATE.parent / "functions"
STACKS = ("imagesearch-prod", "imagesearch-staging")


@pytest.fixture(scope="module")
def find_search_instance():
    """The function's instance lookup, imported as Lambda imports it."""
    for path in (FUNCTIONS / "shared", FUNCTIONS / "search"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    import instances

    return instances.find_search_instance


def _resolved(stack: str) -> LocalResources:
    refs = {"AWS::StackName": stack, "SiteBucket": f"{stack}-site", "GalleryBucket": f"{stack}-gallery",
            "SearchDocument": f"{stack}-SearchDocument"}
    return LocalResources(refs={**refs, "SiteOrigin": f"http://{stack}.example"})


def _deploy(template: dict, stack: str) -> dict:
    """What one stack's deployment holds: its instance tag, its function's tag setting, its IAM condition."""
    local = _resolved(stack)
    tags = {t["Key"]: local.resolve(t["Value"])
            for t in template["Resources"]["SearchInstance"]["Properties"]["Tags"] if t["Key"] != "Name"}
    env = local.resolve_all(function_environment(template, SEARCH_FUNCTION))
    statements = [s for doc in template["Resources"][SEARCH_FUNCTION]["Properties"]["Policies"]
                  for s in doc["Statement"] if s.get("Sid") == "SendToSearchInstances"]
    (condition,) = [s["Condition"]["StringEquals"] for s in statements]
    allowed = {key.split("/", 1)[1]: local.resolve(value) for key, value in condition.items()}
    return {"tags": tags, "tag": (env["INSTANCE_TAG_KEY"], env["INSTANCE_TAG_VALUE"]), "allowed": allowed}


def test_each_stacks_function_reaches_only_its_own_instance(find_search_instance, monkeypatch):
    template = load_template(TEMPLATE)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        # GIVEN two stacks' instances running side by side in one account and region
        deployed, instance_of = {}, {}
        for stack in STACKS:
            deployed[stack] = _deploy(template, stack)
            tags = [{"Key": k, "Value": v} for k, v in deployed[stack]["tags"].items()]
            reservation = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
            instance_of[stack] = reservation["Instances"][0]["InstanceId"]
        for stack in STACKS:
            # WHEN each stack's function looks for its search instance
            found = find_search_instance(ec2, *deployed[stack]["tag"])
            # THEN it finds its own, and its IAM condition matches its own instance and no other
            assert found == instance_of[stack]
            for other in STACKS:
                tags = deployed[other]["tags"]
                matches = all(tags.get(key) == value for key, value in deployed[stack]["allowed"].items())
                assert matches is (other == stack), (stack, other)
    assert deployed[STACKS[0]]["tag"] != deployed[STACKS[1]]["tag"]
