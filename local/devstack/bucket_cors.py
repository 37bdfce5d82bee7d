"""A bucket's CORS rules read from template.yaml and put on the local S3, as CloudFormation would.

moto in server mode serves bucket CORS (it answers a preflight from an allowed origin with the
rule and refuses other origins with 403), so the page's direct upload to the gallery bucket meets
the same rule locally as in AWS. Origins are resolved like every template value of the local stack
(`!GetAtt SiteBucket.WebsiteURL` becomes the dev server's origin).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# CloudFormation's property names -> the S3 API's.
_NAMES = {"Id": "ID", "AllowedOrigins": "AllowedOrigins", "AllowedMethods": "AllowedMethods",
          "AllowedHeaders": "AllowedHeaders", "ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}
Resolve = Callable[[object], str]


def cors_rules(template: dict, logical_id: str, resolve: Resolve) -> list[dict[str, Any]]:
    """The bucket's CorsRules in the S3 API's shape, origins resolved ([] when it has none)."""
    config = template["Resources"][logical_id]["Properties"].get("CorsConfiguration") or {}
    rules = []
    for rule in config.get("CorsRules", []):
        converted = {_NAMES[name]: value for name, value in rule.items()}
        converted["AllowedOrigins"] = [resolve(origin) for origin in rule["AllowedOrigins"]]
        rules.append(converted)
    return rules


def apply_cors(s3: Any, bucket: str, template: dict, logical_id: str, resolve: Resolve) -> list[dict]:
    """Put the template's CORS rules of `logical_id` on `bucket`; the rules put."""
    rules = cors_rules(template, logical_id, resolve)
    if rules:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    return rules
