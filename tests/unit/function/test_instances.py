"""Finding the search instance by its tag with DescribeInstances (moto)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from errors import InstanceUnavailable
from instances import InstanceCache, find_search_instance
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

TAG = ("ImageSearchRole", "search")


def test_the_running_tagged_instance_is_found(aws):
    aws.launch(tags=[{"Key": "Name", "Value": "something else"}])
    wanted = aws.launch()
    assert find_search_instance(aws.ec2, *TAG) == wanted


def test_no_tagged_instance_is_503_saying_so(aws):
    aws.launch(tags=[{"Key": "ImageSearchRole", "Value": "other"}])
    with pytest.raises(InstanceUnavailable) as caught:
        find_search_instance(aws.ec2, *TAG)
    assert caught.value.status == 503
    assert caught.value.code == "no_instance"
    assert "no search instance is running" in caught.value.message
    assert "ImageSearchRole=search" in caught.value.message


def test_a_stopped_instance_is_503_naming_it(aws):
    stopped = aws.launch(stop=True)
    with pytest.raises(InstanceUnavailable) as caught:
        find_search_instance(aws.ec2, *TAG)
    assert caught.value.code == "instance_not_running"
    assert f"{stopped} is stopped" in caught.value.message


def test_a_stopped_one_beside_a_running_one_is_ignored(aws):
    running = aws.launch()
    aws.launch(stop=True)
    assert find_search_instance(aws.ec2, *TAG) == running


def test_several_running_pick_the_most_recently_launched(aws):
    ids = [aws.launch() for _ in range(3)]
    backend = ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    # moto stamps launches to the second; give them distinct, out-of-order launch times.
    for instance_id, day in zip(ids, (3, 9, 5), strict=True):
        backend.get_instance(instance_id).launch_time = datetime(2025, 1, day, tzinfo=UTC).isoformat()
    assert find_search_instance(aws.ec2, *TAG) == ids[1]
    # And the same answer on every call.
    assert {find_search_instance(aws.ec2, *TAG) for _ in range(3)} == {ids[1]}


def test_same_launch_time_breaks_the_tie_by_instance_id(aws):
    ids = [aws.launch() for _ in range(3)]
    backend = ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    for instance_id in ids:
        backend.get_instance(instance_id).launch_time = datetime(2025, 1, 1, tzinfo=UTC).isoformat()
    assert find_search_instance(aws.ec2, *TAG) == max(ids)


def test_cache_skips_the_lookup_until_it_expires(aws, fake_time):
    first = aws.launch()
    cache = InstanceCache(clock=fake_time)
    assert cache.get(aws.ec2, *TAG, ttl_seconds=60) == first
    aws.ec2.stop_instances(InstanceIds=[first])
    second = aws.launch()
    # Within the TTL the cached id is reused (a send to a stopped instance answers 503 and forgets it).
    assert cache.get(aws.ec2, *TAG, ttl_seconds=60) == first
    fake_time.now += 61
    assert cache.get(aws.ec2, *TAG, ttl_seconds=60) == second


def test_forget_and_zero_ttl_look_up_again(aws, fake_time):
    first = aws.launch()
    cache = InstanceCache(clock=fake_time)
    assert cache.get(aws.ec2, *TAG, ttl_seconds=0) == first
    aws.ec2.terminate_instances(InstanceIds=[first])
    second = aws.launch()
    assert cache.get(aws.ec2, *TAG, ttl_seconds=0) == second
    cache.forget()
    assert cache.get(aws.ec2, *TAG, ttl_seconds=60) == second
