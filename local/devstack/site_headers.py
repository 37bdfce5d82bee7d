"""The page's security headers, read from the template's ResponseHeadersPolicy as CloudFront sends them.

The dev server adds them to every answer from the site bucket, so the e2e tests run the page under
the same Content-Security-Policy as the deployed distribution. The CSP's hosts are resolved like
every template value of the local stack (the API is the dev server's /api, S3 is moto).
"""

from __future__ import annotations

from collections.abc import Callable

from publish.template import resource_properties

SITE_RESPONSE_HEADERS = "SiteResponseHeaders"
Resolve = Callable[[object], str]


def site_security_headers(template: dict, resolve: Resolve,
                          logical_id: str = SITE_RESPONSE_HEADERS) -> dict[str, str]:
    """The HTTP headers of the policy's SecurityHeadersConfig, values resolved locally."""
    props = resource_properties(template, logical_id, "AWS::CloudFront::ResponseHeadersPolicy")
    config = props["ResponseHeadersPolicyConfig"].get("SecurityHeadersConfig", {})
    headers: dict[str, str] = {}
    if "ContentSecurityPolicy" in config:
        # CloudFront sends the text as written; the YAML's folded lines become single spaces.
        csp = resolve(config["ContentSecurityPolicy"]["ContentSecurityPolicy"])
        headers["Content-Security-Policy"] = " ".join(csp.split())
    if "ContentTypeOptions" in config:
        headers["X-Content-Type-Options"] = "nosniff"
    if "ReferrerPolicy" in config:
        headers["Referrer-Policy"] = config["ReferrerPolicy"]["ReferrerPolicy"]
    if "FrameOptions" in config:
        headers["X-Frame-Options"] = config["FrameOptions"]["FrameOption"]
    if "StrictTransportSecurity" in config:
        hsts = config["StrictTransportSecurity"]
        value = f"max-age={hsts['AccessControlMaxAgeSec']}"
        value += "; includeSubDomains" if hsts.get("IncludeSubdomains") else ""
        value += "; preload" if hsts.get("Preload") else ""
        headers["Strict-Transport-Security"] = value
    return headers
