"""publish sets the stack's BootstrapSha256 to the hash of the bootstrap it uploads (moto CloudFormation)."""

from __future__ import annotations

import hashlib
import json

import pytest

from publish.pin import pin_bootstrap


@pytest.fixture
def cloudformation(aws):
    import boto3

    return boto3.client("cloudformation", region_name="us-east-1")


def _stack(cloudformation, name: str, with_pin: bool) -> None:
    parameters = {"Other": {"Type": "String"}}
    if with_pin:
        parameters["BootstrapSha256"] = {"Type": "String", "Default": ""}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps({
        "Parameters": parameters,
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
        Parameters=[{"ParameterKey": "Other", "ParameterValue": "kept"}])


def _parameters(cloudformation, name: str) -> dict:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_publish_pins_the_bootstrap_hash_once(cloudformation, tmp_path):
    # GIVEN a deployed stack whose pin is still empty, and the bootstrap publish uploads
    _stack(cloudformation, "s", with_pin=True)
    bootstrap = tmp_path / "bootstrap.sh"
    bootstrap.write_text("#!/bin/bash\necho hi\n")
    said = []
    # WHEN publish pins it
    assert pin_bootstrap(cloudformation, "s", bootstrap, said.append) is True
    # THEN the parameter is the file's sha256 and the others keep their values
    assert _parameters(cloudformation, "s") == {
        "Other": "kept", "BootstrapSha256": hashlib.sha256(bootstrap.read_bytes()).hexdigest()}
    # AND an unchanged bootstrap does not update the stack again
    assert pin_bootstrap(cloudformation, "s", bootstrap, said.append) is False


def test_a_stack_without_the_parameter_is_left_alone_and_told(cloudformation, tmp_path):
    _stack(cloudformation, "old", with_pin=False)
    bootstrap = tmp_path / "bootstrap.sh"
    bootstrap.write_text("x")
    said = []
    assert pin_bootstrap(cloudformation, "old", bootstrap, said.append) is False
    assert "no BootstrapSha256 parameter" in said[0]


def test_publish_sets_the_pages_origin_and_the_pin_in_one_update(cloudformation, tmp_path):
    from publish.pin import set_stack_parameters, wanted_parameters

    # GIVEN a stack deployed with the placeholder origin
    cloudformation.create_stack(StackName="o", TemplateBody=json.dumps({
        "Parameters": {"SiteOrigin": {"Type": "String", "Default": "https://site-origin.invalid"},
                       "BootstrapSha256": {"Type": "String", "Default": ""}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}))
    bootstrap = tmp_path / "bootstrap.sh"
    bootstrap.write_text("#!/bin/bash\n")
    wanted = wanted_parameters({"SiteURL": "https://d111.cloudfront.net"}, bootstrap)
    # WHEN publish sets its parameters THEN both hold the values, and a second run changes nothing
    assert set_stack_parameters(cloudformation, "o", wanted, print) is True
    assert _parameters(cloudformation, "o") == {
        "SiteOrigin": "https://d111.cloudfront.net",
        "BootstrapSha256": hashlib.sha256(bootstrap.read_bytes()).hexdigest()}
    assert set_stack_parameters(cloudformation, "o", wanted, print) is False
    # AND without the agent only the origin is wanted
    assert wanted_parameters({"SiteURL": "https://d111.cloudfront.net/"}, None) == {
        "SiteOrigin": "https://d111.cloudfront.net"}
