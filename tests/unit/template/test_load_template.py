"""publish.template: CloudFormation short-form tags read as plain data, the readers, and clear errors."""

from __future__ import annotations

import pytest

from publish.template import (
    function_environment,
    function_layer_dirs,
    function_property,
    http_api_cors,
    http_api_routes,
    load_template,
    search_document,
)
from publish.uploader import PublishError

SHORT_FORMS = """
Resources:
  Thing:
    Type: AWS::S3::Bucket
    Properties:
      A: !Ref Other
      B: !GetAtt Other.Arn
      C: !GetAtt [Other, WebsiteURL]
      D: !Sub "${Other.Arn}/*"
      E: !Base64
        Fn::Sub: "x=${AWS::Region}"
      F: !Select [0, !GetAZs ""]
      G: !Join [",", [a, !Ref Other]]
      H: !If [IsProd, !Sub "arn:${AWS::Partition}:s3:::x", !Ref AWS::NoValue]
"""


def test_short_forms_become_long_forms(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(SHORT_FORMS)
    props = load_template(path)["Resources"]["Thing"]["Properties"]
    assert props == {
        "A": {"Ref": "Other"},
        "B": {"Fn::GetAtt": ["Other", "Arn"]},
        "C": {"Fn::GetAtt": ["Other", "WebsiteURL"]},
        "D": {"Fn::Sub": "${Other.Arn}/*"},
        "E": {"Fn::Base64": {"Fn::Sub": "x=${AWS::Region}"}},
        "F": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        "G": {"Fn::Join": [",", ["a", {"Ref": "Other"}]]},
        "H": {"Fn::If": ["IsProd", {"Fn::Sub": "arn:${AWS::Partition}:s3:::x"}, {"Ref": "AWS::NoValue"}]},
    }


@pytest.mark.parametrize("text", ["just a string\n", "Foo: 1\n", "- a\n- b\n"])
def test_not_a_template_is_refused(tmp_path, text):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(PublishError, match="not a CloudFormation template"):
        load_template(path)


def test_unknown_tag_and_python_objects_are_refused(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("Resources: !!python/object/apply:os.system [echo hi]\n")
    with pytest.raises(PublishError, match="cannot read template"):
        load_template(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PublishError, match="cannot read template"):
        load_template(tmp_path / "nope.yaml")


def test_search_document_must_be_a_plain_mapping():
    template = {"Resources": {"SearchDocument": {"Type": "AWS::SSM::Document",
                                                 "Properties": {"Content": {"Fn::Sub": "..."}}}}}
    # A mapping with an intrinsic is still a dict; the helper returns it, and the local stack's
    # own test catches it. A string body (JSON in a !Sub) is refused outright.
    template["Resources"]["SearchDocument"]["Properties"]["Content"] = "{\"schemaVersion\": \"2.2\"}"
    with pytest.raises(PublishError, match="plain mapping"):
        search_document(template)


def test_search_document_missing_is_a_clear_error():
    with pytest.raises(PublishError, match="no AWS::SSM::Document named SearchDocument"):
        search_document({"Resources": {}})


FUNCTION_TEMPLATE = """
Globals:
  Function:
    Timeout: 28
    Environment:
      Variables: {A: from-globals, B: from-globals}
Resources:
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: functions/shared/}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration: {AllowOrigins: [!GetAtt Site.WebsiteURL], AllowMethods: [POST]}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Layers: [!Ref Layer]
      Environment:
        Variables: {B: !Ref Site, C: "3"}
      Events:
        Post: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /things, Method: post}}
        Tick: {Type: Schedule, Properties: {Schedule: rate(1 minute)}}
"""


@pytest.fixture
def function_template(tmp_path) -> dict:
    path = tmp_path / "t.yaml"
    path.write_text(FUNCTION_TEMPLATE)
    return load_template(path)


def test_a_functions_environment_is_the_globals_then_its_own(function_template):
    assert function_environment(function_template, "Fn") == {
        "A": "from-globals", "B": {"Ref": "Site"}, "C": "3"}
    assert function_property(function_template, "Fn", "Timeout") == 28  # from Globals
    assert function_property(function_template, "Fn", "CodeUri") == "functions/fn/"
    assert function_property(function_template, "Fn", "MemorySize", 128) == 128


def test_routes_layers_and_cors_are_read_for_the_local_stack(function_template):
    assert http_api_routes(function_template, "Fn") == [("POST", "/things", "Api")]  # the Schedule is not
    assert function_layer_dirs(function_template, "Fn") == ["functions/shared/"]
    assert http_api_cors(function_template, "Api") == {
        "AllowOrigins": [{"Fn::GetAtt": ["Site", "WebsiteURL"]}], "AllowMethods": ["POST"]}


def test_what_the_local_stack_cannot_follow_is_a_clear_error(function_template):
    resources = function_template["Resources"]
    resources["Fn"]["Properties"]["Layers"] = ["arn:aws:lambda:us-east-1:123456789012:layer:x:1"]
    with pytest.raises(PublishError, match="only layers of this template"):
        function_layer_dirs(function_template, "Fn")
    resources["Fn"]["Properties"]["Events"]["Post"]["Properties"]["ApiId"] = "abc123"
    with pytest.raises(PublishError, match="ApiId must be a !Ref"):
        http_api_routes(function_template, "Fn")
    with pytest.raises(PublishError, match="no AWS::Serverless::Function named Nope"):
        function_environment(function_template, "Nope")
