"""template.yaml read as data: the security properties docs/deploy.md ("Decisions") states, asserted."""

from __future__ import annotations

import json
import re

import pytest

from publish.template import TEMPLATE, http_api_routes, refresh_document, search_document

ROOT = TEMPLATE.parent
# The instance tag's value is the stack's name, so two stacks never share a search instance.
STACK_NAME = {"Ref": "AWS::StackName"}


def _listify(value) -> list:
    return value if isinstance(value, list) else [value]


def _statements(policy_documents) -> list[dict]:
    return [s for doc in policy_documents for s in _listify(doc["Statement"])]


def _function_statements(resources) -> list[dict]:
    policies = resources["SearchFunction"]["Properties"]["Policies"]
    # Only inline statement documents: a SAM policy template or managed policy name would hide
    # what it grants from these tests.
    assert all(isinstance(p, dict) and "Statement" in p for p in policies)
    return _statements(policies)


def _instance_statements(resources) -> list[dict]:
    policies = resources["SearchInstanceRole"]["Properties"]["Policies"]
    # With the default IndexBackend; the s3vectors policy (under Fn::If) is test_index_backend.py's.
    policies = [p for p in policies if "Fn::If" not in p]
    return _statements([p["PolicyDocument"] for p in policies])


def _text(value) -> str:
    return json.dumps(value)


# ---------------------------------------------------------------- buckets


def test_gallery_bucket_blocks_all_public_access(resources):
    block = resources["GalleryBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                     "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def test_gallery_bucket_is_encrypted(resources):
    rules = resources["GalleryBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


def test_gallery_bucket_denies_requests_without_tls(resources):
    policy = resources["GalleryBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "GalleryBucket"}
    denies = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(
        s["Condition"]["Bool"]["aws:SecureTransport"] in ("false", False)
        and s["Principal"] == "*"
        and {"Fn::GetAtt": ["GalleryBucket", "Arn"]} in s["Resource"]
        and {"Fn::Sub": "${GalleryBucket.Arn}/*"} in s["Resource"]
        for s in denies
    )
    assert not [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]


def test_site_bucket_is_read_only_by_the_distribution(resources):
    # GIVEN the site bucket's policy WHEN its Allow statements are read THEN the only one lets the
    # CloudFront service read objects, and only on behalf of this stack's distribution.
    policy = resources["SiteBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "SiteBucket"}
    statements = policy["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert _listify(allow["Action"]) == ["s3:GetObject"]
    assert allow["Resource"] == {"Fn::Sub": "${SiteBucket.Arn}/*"}
    assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": {"Fn::Sub": (
        "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${SiteDistribution}")}}}
    assert "*" not in _text([s["Principal"] for s in statements if s["Effect"] == "Allow"])
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert any(s["Condition"]["Bool"]["aws:SecureTransport"] in ("false", False) for s in denies)


def test_site_bucket_is_not_public_at_all(resources):
    props = resources["SiteBucket"]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "WebsiteConfiguration" not in props and "AccessControl" not in props


def test_the_page_is_served_over_https_through_origin_access_control(resources, template):
    config = resources["SiteDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["SiteBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    oac = resources["SiteOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "SiteResponseHeaders"}
    assert "CacheBehaviors" not in config  # results/ are read through the same behaviour
    assert template["Outputs"]["SiteURL"]["Value"] == {"Fn::Sub": "https://${SiteDistribution.DomainName}"}


def test_response_headers_policy_sets_csp_nosniff_and_referrer_policy(resources):
    headers = resources["SiteResponseHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    security = headers["SecurityHeadersConfig"]
    text, variables = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    directives = dict(d.strip().split(" ", 1) for d in text.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # the page's own modules only: no inline, no eval
    assert directives["img-src"] == "'self' blob: data:"  # blob: for the upload preview
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"].split() == [
        "'self'", "${ApiOrigin}", "${UploadOrigin}", "${UploadGlobalOrigin}"]
    assert variables["ApiOrigin"] == {
        "Fn::Sub": "https://${SearchApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert variables["UploadOrigin"] == {"Fn::Sub": "https://${GalleryBucket}.s3.${AWS::Region}.amazonaws.com"}
    assert security["ContentTypeOptions"] == {"Override": True}
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    assert all(value["Override"] is True for value in security.values())


def test_result_cache_entries_expire_through_a_lifecycle_rule(resources):
    rules = resources["GalleryBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    cache = [r for r in rules if r.get("Prefix") == "cache/"]
    assert len(cache) == 1 and cache[0]["Status"] == "Enabled"
    assert cache[0]["ExpirationInDays"] == {"Ref": "CacheExpirationDays"}
    # Besides cache/, only the short-lived uploads/, ingest/ and reindex/ (shards) prefixes expire.
    assert all(r.get("Prefix") in ("cache/", "uploads/", "ingest/", "reindex/", None)
               and ("ExpirationInDays" not in r or r.get("Prefix")) for r in rules)




def test_uploads_expire_after_a_day(resources):
    rules = resources["GalleryBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    uploads = [r for r in rules if r.get("Prefix") == "uploads/"]
    assert len(uploads) == 1
    assert uploads[0]["Status"] == "Enabled"
    assert uploads[0]["ExpirationInDays"] == 1


def test_gallery_cors_allows_only_the_upload_post_from_the_site(resources):
    (rule,) = resources["GalleryBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == [{"Ref": "SiteOrigin"}]
    assert rule["AllowedMethods"] == ["POST"]
    assert "ExposedHeaders" not in rule


def test_nothing_makes_uploads_public(resources):
    # The gallery bucket blocks public policies and ACLs (above); no statement anywhere opens it.
    for name in ("GalleryBucketPolicy", "SiteBucketPolicy"):
        for statement in resources[name]["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                assert "GalleryBucket" not in _text(statement["Resource"])


def test_results_expire_through_a_lifecycle_rule(resources):
    rules = resources["SiteBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    results = [r for r in rules if r.get("Prefix") == "results/"]
    assert len(results) == 1
    assert results[0]["Status"] == "Enabled"
    assert results[0]["ExpirationInDays"] == {"Ref": "ResultsExpirationDays"}


# ---------------------------------------------------------------- function permissions


def test_send_command_is_limited_to_the_document_and_tagged_instances(resources):
    sends = [s for s in _function_statements(resources) if "ssm:SendCommand" in _listify(s["Action"])]
    assert len(sends) == 2
    for statement in sends:
        assert _listify(statement["Action"]) == ["ssm:SendCommand"]
        resource = statement["Resource"]["Fn::Sub"]
        if ":document/" in resource:
            assert resource.endswith(":document/${SearchDocument}")
            assert "Condition" not in statement
        else:
            assert resource.endswith(":instance/*")
            assert statement["Condition"] == {"StringEquals": {"ssm:resourceTag/ImageSearchRole": STACK_NAME}}


FRESH_TOKEN_PARAMETER = "/${AWS::StackName}/fresh-token"


def test_the_function_reads_one_parameter_the_fresh_token_and_nothing_else_of_parameter_store(
        resources, template):
    reads = [s for s in _function_statements(resources)
             if any(a.startswith(("ssm:GetParameter", "ssm:DescribeParameters", "kms:", "secretsmanager:"))
                    for a in _listify(s["Action"]))]
    assert reads == [{
        "Sid": "ReadFreshToken", "Effect": "Allow", "Action": "ssm:GetParameter",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                                + FRESH_TOKEN_PARAMETER}}]
    # The parameter the function reads is the one smoke is told about.
    assert template["Outputs"]["FreshTokenParameterName"]["Value"] == {"Fn::Sub": FRESH_TOKEN_PARAMETER}


def test_no_statement_allows_wildcard_actions_or_run_shell_script(resources):
    for statement in _function_statements(resources) + _instance_statements(resources):
        for action in _listify(statement["Action"]):
            assert "*" not in action, statement
        assert "AWS-RunShellScript" not in _text(statement)
        assert "AWS-RunPowerShellScript" not in _text(statement)


def test_function_writes_only_results_and_uploads_and_reads_only_gallery_previews_and_uploads(resources):
    s3 = {}
    for statement in _function_statements(resources):
        for action in _listify(statement["Action"]):
            if action.startswith("s3:"):
                s3.setdefault(action, []).extend(_listify(statement["Resource"]))
    # In the gallery bucket the function writes only cache/ (the result cache) and uploads/ (a
    # presigned POST acts with the signer's rights), and reads cache/ and index/current.json beside
    # the gallery/ images it copies and the uploads it checks; never the index versions, agent/ or models/.
    assert sorted(_text(r) for r in s3["s3:PutObject"]) == sorted(
        [_text({"Fn::Sub": "${SiteBucket.Arn}/results/*"}),
         _text({"Fn::Sub": "${GalleryBucket.Arn}/cache/*"}),
         _text({"Fn::Sub": "${GalleryBucket.Arn}/uploads/*"})]
    )
    assert sorted(_text(r) for r in s3["s3:GetObject"]) == sorted(
        [_text({"Fn::Sub": "${GalleryBucket.Arn}/gallery/*"}),
         _text({"Fn::Sub": "${GalleryBucket.Arn}/cache/*"}),
         _text({"Fn::Sub": "${GalleryBucket.Arn}/index/current.json"}),
         _text({"Fn::Sub": "${GalleryBucket.Arn}/uploads/*"}),
         # a match's copy is its preview (issue 22): never an original, no albums/ any more
         _text({"Fn::Sub": "${SiteBucket.Arn}/previews/*"})]
    )
    # bucket-level only, so a missing upload, gallery image or preview answers 404 rather than 403
    assert sorted(_text(r) for r in s3["s3:ListBucket"]) == sorted(
        [_text({"Fn::GetAtt": ["SiteBucket", "Arn"]}), _text({"Fn::GetAtt": ["GalleryBucket", "Arn"]})]
    )
    writes = {a for a in s3 if not a.startswith(("s3:Get", "s3:List"))}
    assert writes == {"s3:PutObject"}
    for action in writes:
        assert "*" not in s3[action]


def test_unscoped_resources_only_for_actions_without_resource_level_permissions(resources):
    unscoped = {a for s in _function_statements(resources) if s["Resource"] == "*"
                for a in _listify(s["Action"])}
    assert unscoped == {"ssm:GetCommandInvocation", "ssm:CancelCommand", "ec2:DescribeInstances"}


def test_instance_profile_reads_its_prefixes_and_writes_display_copies_and_pages_only(resources):
    role = resources["SearchInstanceRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}
    ]
    grants = {(a, _text(r))
              for s in _instance_statements(resources) for a in _listify(s["Action"])
              for r in _listify(s["Resource"])}
    gallery = {("s3:GetObject", _text({"Fn::Sub": "${GalleryBucket.Arn}/" + prefix + "/*"}))
               for prefix in ("gallery", "index", "models", "agent", "uploads", "ingest")}
    assert grants == gallery | {
        ("s3:ListBucket", _text({"Fn::GetAtt": ["GalleryBucket", "Arn"]})),
        # `imagesearch ingest` makes the display copies and album pages of what the index accepted
        # (issue 22): puts thumbs/ and previews/, reads and writes listings/ and albums.json. It never
        # reads the site's images (no albums/ any more) and deletes no public copy but stale pages.
        ("s3:PutObject", _text({"Fn::Sub": "${SiteBucket.Arn}/thumbs/*"})),
        ("s3:PutObject", _text({"Fn::Sub": "${SiteBucket.Arn}/previews/*"})),
        ("s3:GetObject", _text({"Fn::Sub": "${SiteBucket.Arn}/listings/*"})),
        ("s3:PutObject", _text({"Fn::Sub": "${SiteBucket.Arn}/listings/*"})),
        ("s3:DeleteObject", _text({"Fn::Sub": "${SiteBucket.Arn}/listings/*"})),
        ("s3:GetObject", _text({"Fn::Sub": "${SiteBucket.Arn}/albums.json"})),
        ("s3:PutObject", _text({"Fn::Sub": "${SiteBucket.Arn}/albums.json"})),
        # `imagesearch ingest` publishes each batch as a new index version (issue 17).
        ("s3:PutObject", _text({"Fn::Sub": "${GalleryBucket.Arn}/index/*"})),
        # ... and warms that version's result cache, pruning older versions (issue 12).
        ("s3:PutObject", _text({"Fn::Sub": "${GalleryBucket.Arn}/cache/*"})),
        ("s3:DeleteObject", _text({"Fn::Sub": "${GalleryBucket.Arn}/cache/*"})),
        # ... and writes that version's near-duplicate groups, that one object only (issue 23).
        ("s3:PutObject", _text({"Fn::Sub": "${SiteBucket.Arn}/duplicates.json"})),
    }
    assert all(s["Effect"] == "Allow" for s in _instance_statements(resources))


# ---------------------------------------------------------------- instance


def test_instance_has_no_key_pair_and_carries_the_search_tag(resources):
    props = resources["SearchInstance"]["Properties"]
    assert "KeyName" not in props
    assert "KeyName" not in resources["SearchLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert {"Key": "ImageSearchRole", "Value": STACK_NAME} in props["Tags"]
    assert props["ImageId"] == {"Ref": "LatestAmiId"}


def test_ami_comes_from_the_public_al2023_parameter(template):
    ami = template["Parameters"]["LatestAmiId"]
    assert ami["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert ami["Default"].startswith("/aws/service/ami-amazon-linux-latest/al2023-ami-")
    assert template["Parameters"]["InstanceType"]["Default"] == "t3.micro"


def test_instance_requires_imdsv2_and_an_encrypted_root_volume(resources):
    props = resources["SearchInstance"]["Properties"]
    assert props["LaunchTemplate"]["LaunchTemplateId"] == {"Ref": "SearchLaunchTemplate"}
    data = resources["SearchLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    volumes = data["BlockDeviceMappings"]
    assert volumes and all(v["Ebs"]["Encrypted"] is True for v in volumes)
    assert "BlockDeviceMappings" not in props  # nothing overrides the launch template's volume


def test_security_group_has_no_ingress(resources):
    props = resources["SearchSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in props
    assert not [r for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]
    assert resources["SearchInstance"]["Properties"]["SecurityGroupIds"] == [
        {"Fn::GetAtt": ["SearchSecurityGroup", "GroupId"]}
    ]


def test_user_data_writes_settings_and_runs_published_bootstrap(resources):
    script = resources["SearchInstance"]["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    script = script[0] if isinstance(script, list) else script  # [text, variables] form
    for line in ("GALLERY_BUCKET=${GalleryBucket}", "SITE_BUCKET=${SiteBucket}", "AWS_REGION=${AWS::Region}"):
        assert line in script
    assert "/etc/imagesearch.env" in script
    assert 's3://${GalleryBucket}/agent/bootstrap.sh' in script


# ---------------------------------------------------------------- SSM documents

HOSTILE = [
    "x;reboot", "$(reboot)", "`reboot`", "..", "a\nb", "\n",
]
GOOD = {
    "bucket": ["my-site-bucket", "visual-image-search-sitebucket-1a2b3c4d5e6f", "abc"],
    "key": ["albums/marble/MYPDF.jpg", "albums/a/b", "albums/wood_1/img-0001.tar.gz", "gallery/a/b.png",
            "uploads/" + "0123456789abcdef" * 2],
    "k": ["1", "5", "9", "10"],
}
BAD = {
    "bucket": ["My-Bucket", "a", "bucket.with.dots", "-bucket", "bucket-", "b;ls", "b$(id)", "b`id`",
               "b..c", "bucket\n", "my-site-bucket\nx"],
    "key": ["albums/../gallery/x.png", "albums/a/..", "albums/a/b;rm", "albums/a/$(id).png",
            "albums/a/`id`.png", "albums/a/b\n.png", "albums/a/b.png\n", "results/gallery/a/b.png",
            "albums//b.png",
            "uploads/" + "A" * 32, "uploads/" + "a" * 31, "uploads/" + "a" * 33, "uploads/a/b.png",
            "albums/a/b c.png", "/albums/a/b.png", "albums/a/b.png.", "albums/" + "a" * 65 + "/b.png"],
    "k": ["0", "11", "01", "-1", "5;", "$(5)", "`5`", "..", "5\n", "1 0", ""],
}


def _accepts(pattern: str, value: str) -> bool:
    # Whole-value match: SSM checks the entire parameter value, and Python's `$` alone would
    # also accept a value followed by one trailing newline.
    return re.fullmatch(pattern, value) is not None


def _patterns(template) -> dict[str, str]:
    return {name: spec["allowedPattern"] for name, spec in search_document(template)["parameters"].items()}


def test_search_document_has_the_three_typed_parameters(template):
    parameters = search_document(template)["parameters"]
    assert set(parameters) == {"bucket", "key", "k"}
    for spec in parameters.values():
        assert spec["type"] == "String"
        assert spec["interpolationType"] == "ENV_VAR"


@pytest.mark.parametrize("name", ["bucket", "key", "k"])
@pytest.mark.parametrize("value", HOSTILE)
def test_every_allowed_pattern_rejects_shell_and_path_syntax(template, name, value):
    assert not _accepts(_patterns(template)[name], value)


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in BAD.items() for v in vs])
def test_allowed_pattern_rejects_bad_value(template, name, value):
    assert not _accepts(_patterns(template)[name], value)


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in GOOD.items() for v in vs])
def test_allowed_pattern_accepts_good_value(template, name, value):
    assert _accepts(_patterns(template)[name], value)


def test_allowed_patterns_are_the_contract_patterns(template):
    from imagesearch import keys

    assert _patterns(template) == {
        "bucket": keys.BUCKET_RE.pattern, "key": keys.QUERY_KEY_RE.pattern, "k": keys.K_RE.pattern,
    }


def test_search_document_runs_the_thin_client_with_env_var_interpolation(template):
    # GIVEN the document the local stack runs WHEN read through the helper THEN it is one shell
    # step whose whole command is the thin client, its parameters passed as SSM_* variables.
    document = search_document(template)
    assert document["schemaVersion"] == "2.2"
    assert template["Resources"]["SearchDocument"]["Properties"]["DocumentType"] == "Command"
    (step,) = document["mainSteps"]
    assert step["action"] == "aws:runShellScript"
    # Each parameter is named in the command, alone in double quotes: with ENV_VAR the agent
    # replaces the reference by "$SSM_<name>", so the value reaches the client as one argument.
    assert step["inputs"]["runCommand"] == [
        'imagesearch-query --bucket "{{ bucket }}" --key "{{ key }}" --k "{{ k }}"']
    assert all(p["interpolationType"] == "ENV_VAR" for p in document["parameters"].values())
    referenced = re.findall(r'"\{\{ (\w+) \}\}"', " ".join(step["inputs"]["runCommand"]))
    assert sorted(referenced) == sorted(document["parameters"])
    assert int(step["inputs"]["timeoutSeconds"]) < 29


def test_refresh_document_takes_no_caller_input(template):
    document = refresh_document(template)
    assert not document.get("parameters")
    (step,) = document["mainSteps"]
    text = _text(step["inputs"]["runCommand"])
    assert "s3://${GalleryBucket}/agent/bootstrap.sh" in text
    assert "imagesearch health" in text
    assert "{{" not in text


# ---------------------------------------------------------------- API, function, outputs


def test_function_settings_match_the_lambda_settings_table(template, resources):
    props = resources["SearchFunction"]["Properties"]
    assert props["CodeUri"] == "functions/search/"
    assert props["Handler"] == "app.lambda_handler"
    glob = template["Globals"]["Function"]
    assert re.fullmatch(r"python3\.(1[2-9])", glob["Runtime"])
    assert glob["Timeout"] <= 29
    assert set(glob["Environment"]["Variables"]) == {
        "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL",
    }
    env = props["Environment"]["Variables"]
    # CORS is the HTTP API's CorsConfiguration, so the function has no origin setting.
    assert set(env) == {"SITE_BUCKET", "GALLERY_BUCKET", "SEARCH_DOCUMENT_NAME", "INSTANCE_TAG_KEY",
                        "INSTANCE_TAG_VALUE", "PUBLIC_BASE_URL", "COPY_WORKERS", "DEADLINE_SECONDS",
                        "MAX_UPLOAD_BYTES", "RESULT_CACHE", "CACHE_VERSION_SECONDS", "FRESH_TOKEN_PARAMETER"}
    assert env["FRESH_TOKEN_PARAMETER"] == {"Fn::Sub": FRESH_TOKEN_PARAMETER}
    assert env["MAX_UPLOAD_BYTES"] == str(10 * 1024 * 1024)  # the settings table's default, 10 MiB
    assert (env["INSTANCE_TAG_KEY"], env["INSTANCE_TAG_VALUE"]) == ("ImageSearchRole", STACK_NAME)
    assert int(env["DEADLINE_SECONDS"]) < glob["Timeout"]
    event = props["Events"]["Search"]
    assert event["Type"] == "HttpApi"
    assert (event["Properties"]["Path"], event["Properties"]["Method"]) == ("/search", "POST")
    assert event["Properties"]["TimeoutInMillis"] <= 30000
    uploads = props["Events"]["Uploads"]
    assert uploads["Type"] == "HttpApi"
    assert (uploads["Properties"]["Path"], uploads["Properties"]["Method"]) == ("/uploads", "POST")
    assert uploads["Properties"]["ApiId"] == {"Ref": "SearchApi"}


def test_the_function_gets_the_shared_ssm_code_from_its_layer(template, resources):
    # GIVEN the shared layer WHEN SAM builds it THEN its folder holds the ssm_command package, which
    # lands in /opt/python for the runtime and architecture of the function
    layer = resources["SsmCommandLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    content = ROOT / layer["Properties"]["ContentUri"]
    assert (content / "ssm_command" / "__init__.py").is_file()
    assert layer["Metadata"]["BuildMethod"] == template["Globals"]["Function"]["Runtime"]
    assert layer["Properties"]["CompatibleRuntimes"] == [template["Globals"]["Function"]["Runtime"]]
    assert layer["Properties"]["CompatibleArchitectures"] == template["Globals"]["Function"]["Architectures"]
    assert resources["SearchFunction"]["Properties"]["Layers"] == [{"Ref": "SsmCommandLayer"}]


def test_http_api_allows_the_site_origin_and_throttles(resources):
    api = resources["SearchApi"]["Properties"]
    # The page's origin (the distribution's https URL), which publish sets as SiteOrigin.
    assert api["CorsConfiguration"]["AllowOrigins"] == [{"Ref": "SiteOrigin"}]
    assert set(api["DefaultRouteSettings"]) == {"ThrottlingBurstLimit", "ThrottlingRateLimit"}


def test_http_api_writes_access_logs_to_a_log_group_with_retention(resources):
    settings = resources["SearchApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["SearchApiAccessLogs", "Arn"]}
    fields = json.loads(settings["Format"])
    assert {"requestId", "status", "latencyMs", "integrationLatencyMs"} <= set(fields)
    for name in ("SearchApiAccessLogs", "SearchFunctionLogs"):
        group = resources[name]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_function_reserved_concurrency_is_a_parameter_where_0_reserves_none(template, resources):
    parameter = template["Parameters"]["FunctionReservedConcurrency"]
    assert parameter["Type"] == "Number" and parameter["Default"] == 0 and parameter["MinValue"] == 0
    assert template["Conditions"]["ReserveConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "FunctionReservedConcurrency"}, 0]}]}
    assert resources["SearchFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveConcurrency", {"Ref": "FunctionReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}


def test_gallery_bucket_is_versioned_and_noncurrent_versions_expire(template, resources):
    props = resources["GalleryBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    expire = rules["ExpireNoncurrentVersions"]
    assert expire["Status"] == "Enabled" and "Prefix" not in expire
    days = {"Ref": "NoncurrentVersionExpirationDays"}
    assert expire["NoncurrentVersionExpiration"] == {"NoncurrentDays": days}
    assert template["Parameters"]["NoncurrentVersionExpirationDays"]["MinValue"] >= 1
    assert rules["RemoveExpiredDeleteMarkers"]["ExpiredObjectDeleteMarker"] is True


# What checkov may skip, and only where it does not apply; each skip says why in one line.
ALLOWED_SKIPS = {
    # The site bucket is private now: no public-read skips (CKV_AWS_54, CKV_AWS_56) any more.
    "SiteBucket": {"CKV_AWS_21", "CKV_AWS_18"},
    "SiteDistribution": {"CKV_AWS_68", "CKV_AWS_86", "CKV_AWS_174"},
    "GalleryBucket": {"CKV_AWS_18"},
    "SearchFunction": {"CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
    "SearchFunctionLogs": {"CKV_AWS_158"},
    "SearchApiAccessLogs": {"CKV_AWS_158"},
    # The ingest path (issue 17): SSE-SQS queues; no reserved concurrency on an SQS-driven function.
    "IngestQueue": {"CKV_AWS_27"},
    "IngestDeadLetterQueue": {"CKV_AWS_27"},
    "IngestFunction": {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
    "IngestFunctionLogs": {"CKV_AWS_158"},
    "BucketNotificationsFunction": {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
    # The featurize path (issue 25): the same as ingest's (tests/unit/template/test_featurize_template.py).
    "FeaturizeQueue": {"CKV_AWS_27"},
    "FeaturizeDeadLetterQueue": {"CKV_AWS_27"},
    "FeaturizeFunction": {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"},
    "FeaturizeFunctionLogs": {"CKV_AWS_158"},
}


def test_every_checkov_skip_is_expected_and_gives_a_one_line_reason(resources):
    skips = {}
    for name, resource in resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"])
            reason = skip.get("comment", "")
            assert 20 <= len(reason) and "\n" not in reason, f"{name} {skip['id']}: give a one-line reason"
            skips.setdefault(name, set()).add(skip["id"])
    assert skips == ALLOWED_SKIPS


def test_every_event_file_is_for_a_route_of_the_function(template):
    # Only the template's routes reach the function on AWS, so an event of any other route would
    # test behaviour that never runs there.
    routes = {f"{method} {path}" for method, path, _ in http_api_routes(template, "SearchFunction")}
    events = sorted((ROOT / "events").glob("*.json"))
    assert events
    for path in events:
        event = json.loads(path.read_text())
        http = event["requestContext"]["http"]
        assert event["routeKey"] in routes, path.name
        assert f"{http['method']} {event['rawPath']}" == event["routeKey"], path.name


def test_outputs(template):
    assert {"SiteURL", "ApiUrl", "SiteBucketName", "GalleryBucketName", "InstanceId", "SearchDocumentName",
            "RefreshDocumentName", "FreshTokenParameterName"} <= set(template["Outputs"])


# ---------------------------------------------------------------- linters
