"""IndexBackend: instance by default; s3vectors adds a vector bucket and index the instance may use alone."""

from __future__ import annotations


def test_the_parameter_defaults_to_the_instance(template):
    p = template["Parameters"]["IndexBackend"]
    assert p["Default"] == "instance" and p["AllowedValues"] == ["instance", "s3vectors"]
    assert template["Conditions"]["UseS3Vectors"] == {"Fn::Equals": [{"Ref": "IndexBackend"}, "s3vectors"]}


def test_vector_bucket_and_index_exist_only_with_s3vectors(template):
    r = template["Resources"]
    assert r["VectorBucket"]["Condition"] == r["VectorIndex"]["Condition"] == "UseS3Vectors"
    props = r["VectorIndex"]["Properties"]
    assert (props["Dimension"], props["DistanceMetric"], props["DataType"]) == (2048, "cosine", "float32")
    assert props["MetadataConfiguration"] == {"NonFilterableMetadataKeys": ["sha256"]}


def test_the_instance_may_use_that_index_only(template):
    policies = template["Resources"]["SearchInstanceRole"]["Properties"]["Policies"]
    conditional = [p["Fn::If"] for p in policies if "Fn::If" in p]
    assert len(conditional) == 1 and conditional[0][0] == "UseS3Vectors"
    assert conditional[0][2] == {"Ref": "AWS::NoValue"}
    statements = conditional[0][1]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in s["Action"]}
    assert {"s3vectors:QueryVectors", "s3vectors:GetVectors", "s3vectors:PutVectors"} <= actions
    assert all(a.startswith("s3vectors:") and "*" not in a for a in actions)
    assert all(s["Resource"] == {"Ref": "VectorIndex"} for s in statements)
    for other in policies:
        if "Fn::If" not in other:
            assert "s3vectors" not in str(other)
