"""The shared result tier (issue 25): a miss on one replica is a hit from another's work; purged
with the disk cache; a slow or failed tier never fails a request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.backends import fresh_database, make_bucket
from tests.forwarder import Forwarder, forwarding
from tests.imaging import decode, gradient, save
from tests.live import wait_for
from tests.server.conftest import Start, open_tenant


@pytest.fixture
def s3_link(s3_endpoint: str) -> Iterator[Forwarder]:
    with forwarding(s3_endpoint) as forwarder:
        yield forwarder


def _tier(endpoint: str, bucket: str) -> dict[str, Any]:
    return {
        "result_storage": "s3",
        "s3_endpoint": endpoint,
        "s3_bucket": bucket,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }


def _stored(endpoint: str, bucket: str, prefix: str) -> list[str]:
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_a_miss_on_one_replica_is_a_hit_from_the_others_work(
    start: Start, tmp_path: Path, s3_link: Forwarder, s3_endpoint: str
) -> None:
    bucket = make_bucket(s3_endpoint)
    first = start(data_dir=tmp_path / "a", **_tier(s3_link.url, bucket))
    second = start(data_dir=tmp_path / "b", **_tier(s3_link.url, bucket))
    url = "/cdn-cgi/image/width=120,format=png/photo.jpg"
    made = first.get(url)
    assert made.status_code == 200 and made.headers["x-enlarger-cache"] == "MISS"
    wait_for(lambda: len(_stored(s3_endpoint, bucket, "results/entries/")) == 1)  # written after the answer
    shared = second.get(url)
    assert shared.status_code == 200 and shared.headers["x-enlarger-cache"] == "HIT-SHARED"
    assert shared.content == made.content and decode(shared.content).width == 120
    assert second.get(url).headers["x-enlarger-cache"] == "HIT"  # now on the second replica's disk too

    s3_link.stop()  # the tier fails: requests are answered all the same, from the engine
    other = "/cdn-cgi/image/width=80,format=png/photo.jpg"
    assert second.get(other).status_code == 200 and first.get(other).status_code == 200


def test_a_hosted_change_purges_the_tier(
    start: Start, tmp_path: Path, postgres: str, s3_link: Forwarder, s3_endpoint: str
) -> None:
    bucket = make_bucket(s3_endpoint)
    shared = {"database_url": fresh_database(postgres), **_tier(s3_link.url, bucket)}
    tenant = open_tenant(start, tmp_path / "a", **shared)
    data = save(gradient(64, 48), "jpeg", Q=90)
    assert tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), data={"id": "p"}, files={"file": data}
    ).is_success
    assert tenant.http.get(f"/{tenant.account.hash}/p/public").status_code == 200
    wait_for(lambda: len(_stored(s3_endpoint, bucket, "results/entries/")) == 1)
    assert tenant.http.delete(f"{tenant.api}/v1/p", headers=tenant.auth()).status_code == 200
    assert _stored(s3_endpoint, bucket, "results/entries/") == []  # the deleted image's output is gone
    # (the variant's record of that key lingers until the variant is purged, as in the disk cache's index)
