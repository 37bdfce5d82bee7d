"""S3 event messages -> object events -> the batch's net change per key."""

from __future__ import annotations

import json

import pytest
from function_modules import ingest_modules
from ingest_events import TEST_EVENT, s3_record

_events = ingest_modules().s3_events
DELETE, PUT = _events.DELETE, _events.PUT
NotAnS3Event, ObjectEvent = _events.NotAnS3Event, _events.ObjectEvent
later, net_changes, parse_message = _events.later, _events.net_changes, _events.parse_message


def test_created_and_removed_records_are_parsed_with_their_decoded_keys():
    body = json.dumps({"Records": [s3_record("gallery/a/x+1.png", "ObjectCreated:Put", "01"),
                                   s3_record("gallery/a/y.png", "ObjectCreated:CompleteMultipartUpload",
                                             "02"),
                                   s3_record("gallery/a/z.png", "ObjectRemoved:Delete", "03"),
                                   s3_record("gallery/a/w.png", "ObjectRemoved:DeleteMarkerCreated", "04")]})
    events = parse_message(body, "m1")
    assert [(e.key, e.op, e.sequencer) for e in events] == [
        ("gallery/a/x+1.png", PUT, "01"), ("gallery/a/y.png", PUT, "02"),
        ("gallery/a/z.png", DELETE, "03"), ("gallery/a/w.png", DELETE, "04")]
    assert {e.message_id for e in events} == {"m1"}


def test_a_space_arrives_as_plus_and_is_decoded():
    body = json.dumps({"Records": [s3_record("gallery/a/b c.png")]})
    assert parse_message(body, "m")[0].key == "gallery/a/b c.png"


def test_s3_test_event_is_ignored():
    assert parse_message(TEST_EVENT, "m") == []


@pytest.mark.parametrize("body", ["not json", "[]", json.dumps({"Records": [{"eventName": "x"}]}),
                                  json.dumps({"hello": 1}), json.dumps({"Records": [{
                                      **s3_record("gallery/a/b.png"), "eventSource": "aws:sns"}]})])
def test_other_bodies_are_not_s3_events(body):
    with pytest.raises(NotAnS3Event):
        parse_message(body, "m")


def _event(op: str, sequencer: str, key: str = "gallery/a/b.png", message: str = "m") -> ObjectEvent:
    return ObjectEvent("bucket", key, op, sequencer, message)


@pytest.mark.parametrize(("first", "second", "winner"), [
    ("0055AED6DCD90281E5", "0055AED6DCD90281E6", "0055AED6DCD90281E6"),  # same length: greater hex wins
    ("0055AED6DCD90281E6", "0055AED6DCD90281E5", "0055AED6DCD90281E6"),  # arrival order does not matter
    ("0055AED6DCD9028", "0055AED6DCD90281E5", "0055AED6DCD90281E5"),  # shorter one right-padded with 0
    ("0055AED6DCD90290", "0055AED6DCD90281E5", "0055AED6DCD90290"),  # padded: 0055..9000 > 0055..81E5
    ("00aa", "00AB", "00AB"),  # hex digits compare case-blind
])
def test_the_greater_padded_sequencer_is_the_later_event(first, second, winner):
    assert later(_event(PUT, first), _event(DELETE, second)).sequencer == winner


def test_without_sequencers_the_later_arrival_wins():
    assert later(_event(PUT, ""), _event(DELETE, "")).op == DELETE


def test_net_changes_keep_the_latest_event_per_key_whatever_the_arrival_order():
    events = [_event(DELETE, "0A", "gallery/a/1.png"), _event(PUT, "09", "gallery/a/1.png"),
              _event(PUT, "01", "gallery/a/2.png"), _event(PUT, "01", "gallery/a/2.png", "dup")]
    net = net_changes(events)
    assert [(e.key, e.op) for e in net] == [("gallery/a/1.png", DELETE), ("gallery/a/2.png", PUT)]


def test_a_duplicate_delivery_changes_nothing():
    once = net_changes([_event(PUT, "01", "gallery/a/1.png")])
    twice = net_changes([_event(PUT, "01", "gallery/a/1.png"), _event(PUT, "01", "gallery/a/1.png", "m2")])
    assert [(e.key, e.op, e.sequencer) for e in once] == [(e.key, e.op, e.sequencer) for e in twice]


def test_create_then_delete_in_one_batch_nets_to_a_delete_the_engine_finds_nothing_to_do_for():
    net = net_changes([_event(PUT, "01"), _event(DELETE, "02")])
    assert [(e.op, e.sequencer) for e in net] == [(DELETE, "02")]
