"""Request validation: every bad body gets its 400 with a clear message, and no AWS call is made."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from errors import BadRequest
from validation import MAX_BODY_BYTES, SearchRequest, parse_request

GOOD_KEY = "albums/marble/marble_0001.png"

def _raw_min_score(literal: str) -> str:
    """A body whose min_score is a literal json.dumps never writes but Python's json reads (NaN, ...)."""
    body = json.dumps({"key": GOOD_KEY, "k": 5, "min_score": 0})
    return body.replace('"min_score": 0', f'"min_score": {literal}')


BAD_BODIES = [
    # (case, body, code, words the message must contain)
    ("no body", None, "malformed_body", "JSON object"),
    ("empty body", "", "malformed_body", "JSON object"),
    ("not JSON", "key=albums/a/b.png&k=5", "malformed_body", "not valid JSON"),
    ("truncated JSON", '{"key": "albums/a/b.png", "k": ', "malformed_body", "not valid JSON"),
    ("JSON array", json.dumps([GOOD_KEY, 5]), "malformed_body", "JSON object"),
    ("JSON string", json.dumps(GOOD_KEY), "malformed_body", "JSON object"),
    ("JSON null", "null", "malformed_body", "JSON object"),
    ("too large", json.dumps({"key": GOOD_KEY, "k": 5, "pad": "x" * MAX_BODY_BYTES}), "malformed_body",
     "larger than"),
    ("unknown field", json.dumps({"key": GOOD_KEY, "k": 5, "bucket": "other"}), "unknown_field", "'bucket'"),
    ("missing key", json.dumps({"k": 5}), "missing_field", "key"),
    ("missing k", json.dumps({"key": GOOD_KEY}), "missing_field", "k"),
    ("key not a string", json.dumps({"key": 5, "k": 5}), "bad_key", "albums/<album>/<file>"),
    ("key outside albums and gallery", json.dumps({"key": "results/gallery/marble/x.png", "k": 5}), "bad_key",
     "albums/"),
    ("upload as a key", json.dumps({"key": "uploads/" + "a" * 32, "k": 5}), "bad_key", "'upload'"),
    ("key and upload", json.dumps({"key": GOOD_KEY, "upload": "a" * 32, "k": 5}), "malformed_body",
     "not both"),
    ("upload too short", json.dumps({"upload": "a" * 31, "k": 5}), "bad_upload", "32 lowercase hex"),
    ("upload upper case", json.dumps({"upload": "A" * 32, "k": 5}), "bad_upload", "32 lowercase hex"),
    ("upload a path", json.dumps({"upload": "../gallery/marble/x.png", "k": 5}), "bad_upload", "upload_id"),
    ("upload with newline", json.dumps({"upload": "a" * 32 + "\n", "k": 5}), "bad_upload", "upload_id"),
    ("upload a number", json.dumps({"upload": 5, "k": 5}), "bad_upload", "upload_id"),
    ("upload without k", json.dumps({"upload": "a" * 32}), "missing_field", "k"),
    ("key with ..", json.dumps({"key": "albums/marble/../../secret.png", "k": 5}), "bad_key", "albums/"),
    ("key suffix ..", json.dumps({"key": "albums/marble/x..png", "k": 5}), "bad_key", "albums/"),
    ("key too deep", json.dumps({"key": "albums/marble/sub/x.png", "k": 5}), "bad_key", "albums/"),
    ("key shell text", json.dumps({"key": "albums/marble/x.png; rm -rf /", "k": 5}), "bad_key", "albums/"),
    ("key with $()", json.dumps({"key": "albums/marble/$(id).png", "k": 5}), "bad_key", "albums/"),
    ("key with newline", json.dumps({"key": "albums/marble/x.png\n", "k": 5}), "bad_key", "albums/"),
    ("key with space", json.dumps({"key": "albums/marble/my file.png", "k": 5}), "bad_key", "albums/"),
    ("key non-ASCII", json.dumps({"key": "albums/marble/caf\u00e9.png", "k": 5}), "bad_key", "albums/"),
    ("key album too long", json.dumps({"key": f"albums/{'a' * 65}/x.png", "k": 5}), "bad_key", "albums/"),
    ("key five suffixes", json.dumps({"key": "albums/m/x.a.b.c.d.e", "k": 5}), "bad_key", "albums/"),
    ("k zero", json.dumps({"key": GOOD_KEY, "k": 0}), "bad_k", "1 to 10"),
    ("k eleven", json.dumps({"key": GOOD_KEY, "k": 11}), "bad_k", "1 to 10"),
    ("k negative", json.dumps({"key": GOOD_KEY, "k": -1}), "bad_k", "1 to 10"),
    ("k float", json.dumps({"key": GOOD_KEY, "k": 5.0}), "bad_k", "integer"),
    ("k string", json.dumps({"key": GOOD_KEY, "k": "5"}), "bad_k", "integer"),
    ("k bool", json.dumps({"key": GOOD_KEY, "k": True}), "bad_k", "integer"),
    ("k null", json.dumps({"key": GOOD_KEY, "k": None}), "bad_k", "integer"),
    ("k huge", json.dumps({"key": GOOD_KEY, "k": 10**30}), "bad_k", "integer"),
    # min_score (issue 23): a finite number from -1 to 1, nothing else.
    ("min_score string", json.dumps({"key": GOOD_KEY, "k": 5, "min_score": "0.9"}), "bad_min_score",
     "-1 to 1"),
    ("min_score band name", json.dumps({"key": GOOD_KEY, "k": 5, "min_score": "near_duplicate"}),
     "bad_min_score", "number"),
    ("min_score bool", json.dumps({"key": GOOD_KEY, "k": 5, "min_score": True}), "bad_min_score", "number"),
    ("min_score null", json.dumps({"key": GOOD_KEY, "k": 5, "min_score": None}), "bad_min_score", "number"),
    ("min_score list", json.dumps({"key": GOOD_KEY, "k": 5, "min_score": [0.5]}), "bad_min_score", "number"),
    ("min_score object", json.dumps({"key": GOOD_KEY, "k": 5, "min_score": {"gt": 0}}), "bad_min_score",
     "number"),
    ("min_score above 1", json.dumps({"key": GOOD_KEY, "k": 5, "min_score": 1.0001}), "bad_min_score",
     "-1 to 1"),
    ("min_score below -1", json.dumps({"key": GOOD_KEY, "k": 5, "min_score": -2}), "bad_min_score",
     "-1 to 1"),
    ("min_score huge int", json.dumps({"key": GOOD_KEY, "k": 5, "min_score": 10**30}), "bad_min_score",
     "-1 to 1"),
    ("min_score NaN", _raw_min_score("NaN"), "bad_min_score", "number"),
    ("min_score Infinity", _raw_min_score("Infinity"), "bad_min_score",
     "number"),
    ("min_score -Infinity", _raw_min_score("-Infinity"), "bad_min_score",
     "number"),
    ("min_score 1e999", _raw_min_score("1e999"), "bad_min_score", "number"),
]


@pytest.mark.parametrize(("case", "body", "code", "words"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_body_is_refused_with_its_code(case, body, code, words):
    with pytest.raises(BadRequest) as caught:
        parse_request(body)
    assert caught.value.status == 400
    assert caught.value.code == code
    assert words in caught.value.message


@pytest.mark.parametrize(("key", "k"), [
    (GOOD_KEY, 1), (GOOD_KEY, 10), ("albums/A-b_9/F-1_x", 3), ("albums/m/x.tar.gz", 5),
    (f"albums/{'a' * 64}/{'b' * 128}.{'c' * 16}", 2),
])
def test_good_body_is_accepted(key, k):
    assert parse_request(json.dumps({"key": key, "k": k})) == SearchRequest(key=key, k=k)


@pytest.mark.parametrize("min_score", [-1, -1.0, 0, 0.5, 0.93, 1, 1.0])
def test_min_score_in_range_is_accepted(min_score):
    request = parse_request(json.dumps({"key": GOOD_KEY, "k": 5, "min_score": min_score}))
    assert request.min_score == float(min_score)
    assert isinstance(request.min_score, float)


def test_min_score_is_optional():
    assert parse_request(json.dumps({"key": GOOD_KEY, "k": 5})).min_score is None


def test_gallery_key_is_a_query_in_the_gallery_bucket():
    # "more like this" on a result names its gallery image
    request = parse_request(json.dumps({"key": "gallery/marble/x.png", "k": 5}))
    assert request == SearchRequest(key="gallery/marble/x.png", k=5)
    assert request.image_key == "gallery/marble/x.png" and request.preview_key == "previews/marble/x.png"


def test_an_album_key_names_its_gallery_image_and_preview():
    # The site bucket holds no originals any more (issue 22): albums/<a>/<f> is gallery/<a>/<f>.
    request = parse_request(json.dumps({"key": "albums/marble/x.png", "k": 5}))
    assert request.key == "albums/marble/x.png"
    assert request.image_key == "gallery/marble/x.png" and request.preview_key == "previews/marble/x.png"


def test_upload_becomes_its_uploads_key():
    upload = "0123456789abcdef" * 2
    request = parse_request(json.dumps({"upload": upload, "k": 3}))
    assert request == SearchRequest(key="uploads/" + upload, k=3, upload=upload)
    assert request.image_key == "uploads/" + upload and request.preview_key is None


@pytest.mark.parametrize(("case", "body", "code", "words"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_handler_answers_400_without_any_aws_call(case, body, code, words, search_app, load_event,
                                                 lambda_context):
    # GIVEN clients whose Stubbers have nothing queued: any AWS call would fail the request with a 500
    clients = search_app.SearchClients(ec2=boto3.client("ec2"), ssm=boto3.client("ssm"),
                                       s3=boto3.client("s3"))
    stubbers = [Stubber(c) for c in (clients.ec2, clients.ssm, clients.s3)]
    for stubber in stubbers:
        stubber.activate()
    search_app.use_clients(clients)
    event = load_event("search_ok")
    event["body"] = body

    # WHEN the handler answers
    response = search_app.lambda_handler(event, lambda_context)

    # THEN it is a 400 with the error shape, and nothing was asked of AWS
    assert response["statusCode"] == 400
    answer = json.loads(response["body"])
    assert answer["error"]["code"] == code
    assert words in answer["error"]["message"]
    assert answer["request_id"] == event["requestContext"]["requestId"]
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()
