"""Read template.yaml as plain data: CloudFormation short-form tags become their long forms.

The template is the single source of truth: the local stack runs the SSM document's very command
text, and gives the function the template's environment, layers, routes and CORS configuration.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from publish.uploader import PublishError

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
SEARCH_DOCUMENT = "SearchDocument"
REFRESH_DOCUMENT = "RefreshDocument"
SEARCH_FUNCTION = "SearchFunction"
INGEST_DOCUMENT = "IngestDocument"
INGEST_FUNCTION = "IngestFunction"
FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
HTTP_API_TYPE = "AWS::Serverless::HttpApi"

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


def ingest_document(template: dict) -> dict:
    """The IngestDocument's content as plain data."""
    return _document(template, INGEST_DOCUMENT)


def refresh_document(template: dict) -> dict:
    """The RefreshDocument's content as plain data."""
    return _document(template, REFRESH_DOCUMENT)


def resource_properties(template: dict, logical_id: str, resource_type: str) -> dict:
    """The Properties of one resource, checked to be of `resource_type`."""
    resource = template["Resources"].get(logical_id)
    if not resource or resource.get("Type") != resource_type:
        raise PublishError(f"template has no {resource_type} named {logical_id}")
    return resource.get("Properties") or {}


def function_property(template: dict, function_id: str, name: str, default=None):
    """A property of a function, else the template's Globals.Function value (as SAM applies them)."""
    props = resource_properties(template, function_id, FUNCTION_TYPE)
    if name in props:
        return props[name]
    return ((template.get("Globals") or {}).get("Function") or {}).get(name, default)


def function_environment(template: dict, function_id: str) -> dict:
    """The function's environment variables: Globals.Function's, then its own (intrinsics unresolved)."""
    globals_env = ((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    own_env = resource_properties(template, function_id, FUNCTION_TYPE).get("Environment") or {}
    return {**(globals_env.get("Variables") or {}), **(own_env.get("Variables") or {})}


def function_layer_dirs(template: dict, function_id: str) -> list[str]:
    """The ContentUri of each layer the function lists (`!Ref` to a LayerVersion of this template)."""
    folders = []
    for layer in function_property(template, function_id, "Layers", []):
        if not isinstance(layer, dict) or set(layer) != {"Ref"}:
            raise PublishError(f"{function_id}: only layers of this template run locally, not {layer}")
        folders.append(resource_properties(template, layer["Ref"], LAYER_TYPE)["ContentUri"])
    return folders


def http_api_routes(template: dict, function_id: str) -> list[tuple[str, str, str]]:
    """(METHOD, path, API logical id) of each HttpApi event of the function."""
    routes = []
    events = resource_properties(template, function_id, FUNCTION_TYPE).get("Events") or {}
    for name, event in events.items():
        if event.get("Type") != "HttpApi":
            continue
        props = event.get("Properties") or {}
        api = props.get("ApiId")
        if not isinstance(api, dict) or set(api) != {"Ref"}:
            raise PublishError(f"{function_id} event {name}: ApiId must be a !Ref to the template's HttpApi")
        routes.append((str(props["Method"]).upper(), str(props["Path"]), api["Ref"]))
    return routes


def http_api_cors(template: dict, api_id: str) -> dict | None:
    """The HttpApi's CorsConfiguration (intrinsics unresolved), or None when it has none."""
    return resource_properties(template, api_id, HTTP_API_TYPE).get("CorsConfiguration")
