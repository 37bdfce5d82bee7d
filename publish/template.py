"""Read template.yaml as plain data: CloudFormation short-form tags become their long forms.

The local stack imports `load_template` and `search_document` so it runs the very command text
the deployed SSM document runs (DESIGN section 3: the template is the single source of truth).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from publish.uploader import PublishError

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
SEARCH_DOCUMENT = "SearchDocument"
REFRESH_DOCUMENT = "RefreshDocument"

_FN_TAGS = (
    "And", "Base64", "Cidr", "Condition", "Equals", "FindInMap", "GetAZs", "If", "ImportValue",
    "Join", "Not", "Or", "Select", "Split", "Sub", "Transform", "Length", "ToJsonString",
)


class _CfnLoader(yaml.SafeLoader):
    """A safe loader that also knows the CloudFormation intrinsic-function tags."""


def _construct(node: yaml.Node, loader: yaml.SafeLoader):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _fn(name: str):
    key = "Ref" if name == "Ref" else "Condition" if name == "Condition" else f"Fn::{name}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node):
        return {key: _construct(node, loader)}

    return construct


def _get_att(loader: yaml.SafeLoader, node: yaml.Node):
    value = _construct(node, loader)
    if isinstance(value, str):
        # `!GetAtt Resource.Attribute` (the attribute may itself contain dots).
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


_CfnLoader.add_constructor("!Ref", _fn("Ref"))
_CfnLoader.add_constructor("!GetAtt", _get_att)
for _name in _FN_TAGS:
    _CfnLoader.add_constructor(f"!{_name}", _fn(_name))


def load_template(path: Path | str = TEMPLATE) -> dict:
    """Parse a CloudFormation/SAM template (short-form tags included) into plain dicts and lists."""
    try:
        with open(path, encoding="utf-8") as f:
            template = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, yaml.YAMLError) as e:
        raise PublishError(f"cannot read template {path}: {e}") from e
    if not isinstance(template, dict) or "Resources" not in template:
        raise PublishError(f"{path} is not a CloudFormation template (no Resources)")
    return template


def _document(template: dict, logical_id: str) -> dict:
    resource = template["Resources"].get(logical_id)
    if not resource or resource.get("Type") != "AWS::SSM::Document":
        raise PublishError(f"template has no AWS::SSM::Document named {logical_id}")
    content = resource["Properties"]["Content"]
    if not isinstance(content, dict):
        raise PublishError(f"{logical_id} Content must be a plain mapping, not {type(content).__name__}")
    return content


def search_document(template: dict) -> dict:
    """The SearchDocument's content (schemaVersion, parameters, mainSteps) as plain data."""
    return _document(template, SEARCH_DOCUMENT)


def refresh_document(template: dict) -> dict:
    """The RefreshDocument's content as plain data."""
    return _document(template, REFRESH_DOCUMENT)
