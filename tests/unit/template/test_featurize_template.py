"""The featurize path in template.yaml: runtime, parameters, queues, layer size, least privilege."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

from publish.template import TEMPLATE

REPO = TEMPLATE.parent
FUNCTION_DIR = REPO / "functions" / "featurize"
LAYER_RECORD = REPO / "docs" / "bench" / "featurize_layer.json"
LAMBDA_UNPACKED_LIMIT = 250 * 1000 * 1000  # bytes: function code and every layer, unzipped


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _statements(resource: dict) -> list[dict]:
    return [s for p in resource["Properties"]["Policies"] for s in p["Statement"]]


def test_the_function_runs_python312_with_memory_and_concurrency_as_parameters(template, resources):
    function = resources["FeaturizeFunction"]["Properties"]
    runtime = function.get("Runtime", template["Globals"]["Function"]["Runtime"])
    assert runtime == "python3.12" and function["Handler"] == "app.lambda_handler"
    assert function["MemorySize"] == {"Ref": "FeaturizeMemorySize"}
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveFeaturizeConcurrency", {"Ref": "FeaturizeReservedConcurrency"},
                   {"Ref": "AWS::NoValue"}]}
    source = resources["FeaturizeEventSource"]["Properties"]
    assert source["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "FeaturizeConcurrency"}}
    assert source["BatchSize"] == 1 and source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "Events" not in function  # no SAM-managed SQS policy on "*"
    params = template["Parameters"]
    assert params["FeaturizeConcurrency"]["MinValue"] == 2  # the least MaximumConcurrency SQS allows
    assert params["FeaturizeMemorySize"]["MaxValue"] == 10240


def test_a_poison_batch_is_parked_and_alarmed(resources):
    queue = resources["FeaturizeQueue"]["Properties"]
    dead_letters = {"Fn::GetAtt": ["FeaturizeDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == dead_letters
    assert 2 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 5
    assert queue["VisibilityTimeout"] >= 6 * resources["FeaturizeFunction"]["Properties"]["Timeout"]
    alarm = resources["FeaturizeDeadLetterAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and alarm["Threshold"] == 1
    assert alarm["Dimensions"] == [{"Name": "QueueName",
                                    "Value": {"Fn::GetAtt": ["FeaturizeDeadLetterQueue", "QueueName"]}}]


def test_the_featurize_function_is_least_privilege(resources):
    statements = _statements(resources["FeaturizeFunction"])
    grants = {(a, json.dumps(r))
              for s in statements for a in _list(s["Action"]) for r in _list(s["Resource"])}
    bucket = json.dumps({"Fn::GetAtt": ["GalleryBucket", "Arn"]})
    queue = json.dumps({"Fn::GetAtt": ["FeaturizeQueue", "Arn"]})
    assert grants == {
        ("s3:GetObject", json.dumps({"Fn::Sub": "${GalleryBucket.Arn}/gallery/*"})),
        ("s3:GetObject", json.dumps({"Fn::Sub": "${GalleryBucket.Arn}/models/*"})),
        ("s3:PutObject", json.dumps({"Fn::Sub": "${GalleryBucket.Arn}/reindex/*"})),
        ("s3:ListBucket", bucket),
        ("sqs:ReceiveMessage", queue), ("sqs:DeleteMessage", queue),
        ("sqs:ChangeMessageVisibility", queue), ("sqs:GetQueueAttributes", queue),
    }
    listing = next(s for s in statements if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["gallery/*", "reindex/*"]}}
    assert all(s["Effect"] == "Allow" and "Condition" not in s or s is listing for s in statements)


def test_the_environment_is_the_settings_table(resources):
    tree = ast.parse((FUNCTION_DIR / "settings.py").read_text())
    table = next(n.value for n in tree.body if isinstance(n, ast.AnnAssign) and n.target.id == "SETTINGS")
    names = {row[0] for row in ast.literal_eval(table)}
    env = resources["FeaturizeFunction"]["Properties"]["Environment"]["Variables"]
    assert set(env) == names


def test_the_function_gets_image_prep_and_its_dependencies_from_layers(resources):
    function = resources["FeaturizeFunction"]["Properties"]
    assert function["Layers"] == [{"Ref": "SsmCommandLayer"}, {"Ref": "FeaturizeDepsLayer"}]
    assert resources["SsmCommandLayer"]["Properties"]["ContentUri"] == "functions/shared/"
    assert (REPO / "functions" / "shared" / "image_prep" / "__init__.py").is_file()
    layer = resources["FeaturizeDepsLayer"]
    assert layer["Properties"]["ContentUri"] == "functions/featurize/layer/"
    assert layer["Metadata"]["BuildMethod"] == "python3.12"
    wanted = {line.split("==")[0].lower() for line in _requirements()}
    assert wanted == {"onnxruntime", "numpy", "pillow", "pillow-heif"}


def _requirements() -> list[str]:
    text = (FUNCTION_DIR / "layer" / "requirements.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)


def test_the_layers_and_code_fit_lambdas_unpacked_limit():
    # The layer's size is measured by bench/featurize_layer.py (pip installs the wheels for the
    # layer's platform; the network is not reached at test time) or, after `make sam-build`, read
    # from the build itself; the record must be of the requirements in the repo now.
    built = REPO / ".aws-sam" / "build" / "FeaturizeDepsLayer"
    if built.is_dir() and os.listdir(built):
        layer = _tree_bytes(built)
    else:
        record = json.loads(LAYER_RECORD.read_text())
        assert record["requirements"] == _requirements(), "run bench/featurize_layer.py: the record is stale"
        layer = record["unpacked_bytes"]
    code = _tree_bytes(FUNCTION_DIR) + _tree_bytes(REPO / "functions" / "shared")
    powertools = 10 * 1000 * 1000  # the function's own requirement (aws-lambda-powertools), generously
    assert layer + code + powertools < LAMBDA_UNPACKED_LIMIT
