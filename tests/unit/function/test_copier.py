"""Parallel copy of the matches' previews to results/ in the site bucket (moto, with botocore event hooks)."""

from __future__ import annotations

import threading
import time

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from copier import copy_results, result_key

SITE = "test-site-bucket"


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_):
        yield self._data


def _slow_down() -> AWSResponse:
    body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
    return AWSResponse("https://s3.amazonaws.com", 503, {"Content-Type": "application/xml"}, _Body(body))


def _single_attempt_client():
    """A moto S3 client without botocore retries, so only our own retry can save a throttled copy."""
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client("s3", region_name="us-east-1", config=config)


def _exists(s3, key: str) -> bool:
    return s3.list_objects_v2(Bucket=SITE, Prefix=key)["KeyCount"] == 1


def test_all_k_are_copied_from_their_previews_never_the_originals(aws, ssm_answers):
    keys = ssm_answers.gallery_keys[:10]
    outcomes = copy_results(aws.s3, SITE, keys, workers=10)
    assert [o.gallery_key for o in outcomes] == keys
    assert all(o.ok for o in outcomes)
    for key in keys:
        copied = aws.s3.get_object(Bucket=SITE, Key=result_key(key))
        # the display copy (previews/<album>/<file>: a JPEG without the original's metadata)
        assert copied["Body"].read() == b"preview of " + key.encode()
        assert copied["ContentType"] == "image/jpeg"


def test_a_real_preview_copied_to_results_carries_no_metadata(aws):
    import io

    from imagesearch.model.display import make_display_copies
    from imagesearch.model.sample_photos import SERIAL, phone_jpeg
    from PIL import Image

    # GIVEN a phone photo's preview, made as publish and ingest make it
    key = "gallery/trip/IMG_1.jpg"
    preview = make_display_copies(phone_jpeg((1600, 1200))).copies["previews"]
    aws.s3.put_object(Bucket=SITE, Key="previews/trip/IMG_1.jpg", Body=preview, ContentType="image/jpeg")
    # WHEN it is a match
    (outcome,) = copy_results(aws.s3, SITE, [key], workers=1)
    # THEN its results/ copy is that preview: no EXIF, no XMP, no serial
    data = aws.s3.get_object(Bucket=SITE, Key=result_key(key))["Body"].read()
    assert outcome.ok and data == preview
    im = Image.open(io.BytesIO(data))
    assert not im.getexif() and "xmp" not in im.info and SERIAL.encode() not in data


def test_one_failing_copy_is_reported_and_the_others_succeed(aws, ssm_answers):
    keys = ssm_answers.gallery_keys[:4] + ["gallery/marble/vanished.png"]
    outcomes = copy_results(aws.s3, SITE, keys, workers=10)
    failed = [o for o in outcomes if not o.ok]
    assert [(o.gallery_key, o.error) for o in failed] == [("gallery/marble/vanished.png", "NoSuchKey")]
    assert all(_exists(aws.s3, result_key(k)) for k in keys[:4])


def test_a_throttled_copy_is_retried_and_succeeds(aws, ssm_answers):
    # GIVEN S3 answers SlowDown (503) to the first copy of one key, and botocore does not retry
    s3 = _single_attempt_client()
    target = ssm_answers.gallery_keys[2]
    seen: list[str] = []

    def throttle_once(request, **_):
        if result_key(target) in request.url:
            seen.append(request.url)
            if len(seen) == 1:
                return _slow_down()
        return None

    s3.meta.events.register_first("before-send.s3.CopyObject", throttle_once)
    sleeps: list[float] = []

    # WHEN the matches are copied
    outcomes = copy_results(s3, SITE, ssm_answers.gallery_keys[:5], workers=5, sleep=sleeps.append)

    # THEN the throttled copy was retried after a short back-off and every copy succeeded
    assert all(o.ok for o in outcomes)
    assert len(seen) == 2
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 0.15
    assert _exists(aws.s3, result_key(target))


def test_a_copy_throttled_every_time_gives_up_after_bounded_retries(aws, ssm_answers):
    s3 = _single_attempt_client()
    s3.meta.events.register_first("before-send.s3.CopyObject", lambda request, **_: _slow_down())
    sleeps: list[float] = []
    outcomes = copy_results(s3, SITE, ssm_answers.gallery_keys[:1], workers=5, sleep=sleeps.append)
    assert [(o.ok, o.error) for o in outcomes] == [(False, "SlowDown")]
    assert len(sleeps) == 2  # three attempts in all


def test_copies_run_concurrently_up_to_the_worker_count(aws, ssm_answers):
    # GIVEN every CopyObject request takes 50 ms longer (an injected S3 latency), so copies overlap
    # only if they run at once
    s3 = boto3.client("s3", region_name="us-east-1", config=Config(max_pool_connections=10))
    in_flight = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow_request(**_):
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        time.sleep(0.05)
        with lock:
            in_flight["now"] -= 1

    s3.meta.events.register_first("before-send.s3.CopyObject", slow_request)
    keys = ssm_answers.gallery_keys[:10]

    # WHEN ten copies run with one worker, then with ten
    assert all(o.ok for o in copy_results(s3, SITE, keys, workers=1))
    one_worker = in_flight["max"]
    in_flight["max"] = 0
    assert all(o.ok for o in copy_results(s3, SITE, keys, workers=10))

    # THEN one worker copied one at a time, and ten workers overlapped their requests
    assert one_worker == 1
    assert in_flight["max"] > 1


def test_no_matches_copies_nothing(aws):
    assert copy_results(aws.s3, SITE, [], workers=10) == []
