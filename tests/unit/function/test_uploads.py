"""Uploads: the presigned POST's policy, and every bad upload refused by the function before SSM."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime
from types import SimpleNamespace

import pytest
from botocore.stub import ANY

UPLOAD_ID = "0123456789abcdef" * 2


@pytest.fixture
def wired(aws, ssm_stub, search_app, fake_time):
    """The app with moto S3/EC2, a stubbed SSM with nothing queued, a running tagged instance."""
    instance_id = aws.launch()
    search_app.use_clients(search_app.SearchClients(ec2=aws.ec2, ssm=ssm_stub.client, s3=aws.s3))
    search_app._service.clock, search_app._service.sleep = fake_time, fake_time.sleep
    return SimpleNamespace(app=search_app, s3=aws.s3, stub=ssm_stub.stubber, instance_id=instance_id)


def _policy(answer: dict) -> dict:
    return json.loads(base64.b64decode(answer["fields"]["policy"]))


def _conditions(policy: dict) -> tuple[dict, list]:
    """(the exact-match conditions as one dict, the list-form conditions)."""
    exact: dict = {}
    ranges = []
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            exact.update(condition)
        else:
            ranges.append(condition)
    return exact, ranges


def test_presigned_post_policy_pins_prefix_size_type_and_expiry(aws, search_app, monkeypatch):
    # GIVEN a 2 MiB limit
    monkeypatch.setenv("MAX_UPLOAD_BYTES", str(2 * 1024 * 1024))
    from uploads import presign_upload

    # WHEN an upload is signed
    before = time.time()
    s3 = search_app.make_clients().s3  # the function's own S3 client and its signing config
    answer = presign_upload(s3, "test-gallery-bucket", 2 * 1024 * 1024)

    # THEN the form names one key under uploads/ with a strict id, in the private gallery bucket
    assert re.fullmatch(r"[0-9a-f]{32}", answer["upload_id"])
    assert answer["fields"]["key"] == "uploads/" + answer["upload_id"]
    assert "test-gallery-bucket" in answer["url"]
    assert answer["max_bytes"] == 2 * 1024 * 1024
    assert answer["expires_in"] == 300
    assert answer["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # SigV4, not the retired SigV2
    # AND its signed policy allows exactly that key, 1 byte to the limit, image/* only, for 5 minutes
    policy = _policy(answer)
    exact, lists = _conditions(policy)
    assert exact["bucket"] == "test-gallery-bucket"
    assert exact["key"] == "uploads/" + answer["upload_id"]
    assert ["content-length-range", 1, 2 * 1024 * 1024] in lists
    assert ["starts-with", "$Content-Type", "image/"] in lists
    assert not [c for c in lists if c[0] == "starts-with" and c[1] == "$key"]  # no key prefix wildcard
    expires = datetime.strptime(policy["expiration"] + "+0000", "%Y-%m-%dT%H:%M:%SZ%z").timestamp()
    assert before + 295 <= expires <= time.time() + 305


def test_two_uploads_get_different_ids(aws, search_app):
    from uploads import presign_upload

    ids = {presign_upload(aws.s3, "test-gallery-bucket", 100)["upload_id"] for _ in range(20)}
    assert len(ids) == 20


def test_uploads_route_answers_the_form(wired, load_event, lambda_context):
    response = wired.app.lambda_handler(load_event("uploads_ok"), lambda_context)
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert answer["max_bytes"] == 10 * 1024 * 1024  # MAX_UPLOAD_BYTES's default
    assert _policy(answer)["conditions"]
    wired.stub.assert_no_pending_responses()


def _search(wired, load_event, lambda_context, body: dict) -> tuple[int, dict]:
    event = load_event("search_ok")
    event["body"] = json.dumps(body)
    response = wired.app.lambda_handler(event, lambda_context)
    return response["statusCode"], json.loads(response["body"])


def _put_upload(wired, data: bytes, content_type: str = "image/png", upload_id: str = UPLOAD_ID) -> None:
    wired.s3.put_object(Bucket="test-gallery-bucket", Key=f"uploads/{upload_id}", Body=data,
                        ContentType=content_type)


# Refused by the function itself, before any SSM call: what protects the product when an S3 (the
# local one) does not enforce the form's conditions. Each: (case, stored bytes, type, status, code).
REFUSED_BY_FUNCTION = [
    ("over the limit", b"\x89PNG" + b"x" * 2000, "image/png", 422, "too_large"),
    ("empty", b"", "image/png", 422, "bad_image"),
    ("declared text", b"hello", "text/plain", 422, "bad_image"),
    ("declared pdf", b"%PDF-1.4\n", "application/pdf", 422, "bad_image"),
]


@pytest.mark.parametrize(("case", "data", "content_type", "status", "code"), REFUSED_BY_FUNCTION,
                         ids=[c[0] for c in REFUSED_BY_FUNCTION])
def test_bad_upload_is_refused_before_any_search(wired, load_event, lambda_context, monkeypatch, case, data,
                                                 content_type, status, code):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1000")
    _put_upload(wired, data, content_type)
    answered, answer = _search(wired, load_event, lambda_context, {"upload": UPLOAD_ID, "k": 5})
    assert (answered, answer["error"]["code"]) == (status, code)
    if code == "too_large":
        assert "1000 bytes" in answer["error"]["message"]  # the limit, so the user knows what to do
    wired.stub.assert_no_pending_responses()  # nothing was queued: no SSM call was made


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"upload": UPLOAD_ID, "k": 5}, 404, "upload_not_found"),  # never uploaded, or expired
    ({"upload": "0123456789ABCDEF" * 2, "k": 5}, 400, "bad_upload"),
    ({"upload": "not-an-id", "k": 5}, 400, "bad_upload"),
    ({"key": "gallery/marble/not_there.png", "k": 5}, 404, "not_found"),
])
def test_unknown_or_malformed_upload(wired, load_event, lambda_context, body, status, code):
    answered, answer = _search(wired, load_event, lambda_context, body)
    assert (answered, answer["error"]["code"]) == (status, code)
    if code == "upload_not_found":
        assert "upload the image again" in answer["error"]["message"]


def _queue(wired, answers, bucket: str, key: str, agent_stdout: str, status: str = "Success") -> None:
    wired.stub.add_response("send_command", answers.send(), {
        "InstanceIds": [wired.instance_id], "DocumentName": answers.document,
        "Parameters": {"bucket": [bucket], "key": [key], "k": ["5"]}, "TimeoutSeconds": 30, "Comment": ANY,
    })
    wired.stub.add_response("get_command_invocation",
                            answers.invocation(status, stdout=agent_stdout, instance_id=wired.instance_id,
                                               code=0 if status == "Success" else 1))


def test_search_by_upload_sends_the_gallery_bucket_and_uploads_key(wired, ssm_answers, load_event,
                                                                   lambda_context):
    _put_upload(wired, b"\x89PNG fine")
    _queue(wired, ssm_answers, ssm_answers.gallery_bucket, f"uploads/{UPLOAD_ID}", ssm_answers.agent_stdout())
    status, answer = _search(wired, load_event, lambda_context, {"upload": UPLOAD_ID, "k": 5})
    assert status == 200
    assert answer["query"] == {"upload": UPLOAD_ID}  # no public URL: uploads stay private
    assert len(answer["results"]) == 5 and all(r["url"] for r in answer["results"])
    wired.stub.assert_no_pending_responses()


def test_more_like_this_searches_a_gallery_image_in_the_gallery_bucket(wired, ssm_answers, load_event,
                                                                       lambda_context):
    key = ssm_answers.gallery_keys[0]
    # The result it came from: a gallery key is searched only when the site shows it.
    wired.s3.put_object(Bucket=ssm_answers.site_bucket, Key=f"results/{key}", Body=b"copy")
    _queue(wired, ssm_answers, ssm_answers.gallery_bucket, key,
           ssm_answers.agent_stdout(ssm_answers.gallery_keys[1:6]))
    status, answer = _search(wired, load_event, lambda_context, {"key": key, "k": 5})
    assert status == 200
    preview = "https://site.example/" + key.replace("gallery/", "previews/", 1)
    assert answer["query"] == {"key": key, "url": preview}
    assert len(answer["results"]) == 5


@pytest.mark.parametrize("code", ["bad_image", "too_large"])
def test_what_only_the_agent_can_see_is_a_422(wired, ssm_answers, load_event, lambda_context, code):
    # GIVEN an upload declared as an image whose bytes are not one (text, truncated PNG, a
    # decompression bomb: the agent decodes and refuses; its own tests cover each kind)
    _put_upload(wired, b"plain text, declared image/png")
    failed = json.dumps({"ok": False, "error": {"code": code, "message": "truncated or corrupt image"}})
    _queue(wired, ssm_answers, ssm_answers.gallery_bucket, f"uploads/{UPLOAD_ID}", failed, status="Failed")
    status, answer = _search(wired, load_event, lambda_context, {"upload": UPLOAD_ID, "k": 5})
    assert (status, answer["error"]["code"]) == (422, code)



def test_a_refused_type_names_every_accepted_format_the_agent_decodes(wired, load_event, lambda_context):
    _put_upload(wired, b"hello", "text/plain")
    _, answer = _search(wired, load_event, lambda_context, {"upload": UPLOAD_ID, "k": 5})
    assert "HEIC" in answer["error"]["message"] and "AVIF" in answer["error"]["message"]
    from imagesearch.model.images import ACCEPTED_TEXT
    from uploads import ACCEPTED_TEXT as FUNCTION_TEXT

    assert FUNCTION_TEXT == ACCEPTED_TEXT  # the function and the agent say the same


@pytest.mark.parametrize("content_type", ["image/heic", "image/heif", "image/avif"])
def test_phone_formats_go_to_the_agent(wired, ssm_answers, load_event, lambda_context, content_type):
    # GIVEN a HEIC or AVIF upload (the agent decodes them; the function only checks the declared type)
    _put_upload(wired, b"\x00\x00\x00\x1cftypheic", content_type)
    _queue(wired, ssm_answers, ssm_answers.gallery_bucket, f"uploads/{UPLOAD_ID}", ssm_answers.agent_stdout())
    status, _ = _search(wired, load_event, lambda_context, {"upload": UPLOAD_ID, "k": 5})
    assert status == 200
    wired.stub.assert_no_pending_responses()
