"""publish's S3 Vectors step: the live version in s3://<gallery>/index lands in the vector index."""

from __future__ import annotations

import dataclasses

import boto3
import pytest
from imagesearch import settings
from imagesearch.index.build_params import BuildConfig
from imagesearch.index.lsh import LshBuildParams
from imagesearch.index.storage import S3IndexStore
from imagesearch.ops.build import build_index
from imagesearch.s3vectors.backend import VectorIndexRef, read_state
from moto import mock_aws

from publish.uploader import PublishError
from publish.vectors import VECTOR_INDEX_NAME, publish_vectors


@pytest.fixture
def aws(aws_env):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="gallery")
        vectors = boto3.client("s3vectors", region_name="us-east-1")
        vectors.create_vector_bucket(vectorBucketName="stack-vectors")
        yield s3, vectors


def test_publish_writes_the_live_version_and_records_it(aws, albums, featurizer, tmp_path):
    s3, vectors = aws
    # GIVEN a live index version in the gallery bucket, as publish's index step leaves it
    config = dataclasses.replace(BuildConfig.from_settings(settings.load()), lsh=LshBuildParams(tables=4),
                                 probes=4, threads=2)
    build_index(albums, S3IndexStore(s3, "gallery", "index"), s3=s3, featurizer=featurizer, config=config)
    live = S3IndexStore(s3, "gallery", "index").read_current()
    # WHEN publish syncs the vector index, then syncs again with nothing changed
    first = publish_vectors(vectors, s3, "gallery", "stack-vectors", cache_dir=tmp_path / "cache")
    again = publish_vectors(vectors, s3, "gallery", "stack-vectors", cache_dir=tmp_path / "cache")
    # THEN every image was put once, the second sync puts nothing, and the index names the version
    assert first.put > 0 and first.deleted == 0
    assert again.put == 0 and again.kept == first.put
    assert read_state(vectors, VectorIndexRef("stack-vectors", VECTOR_INDEX_NAME)).version == live


def test_no_live_version_is_a_clear_publish_error(aws, tmp_path):
    s3, vectors = aws
    with pytest.raises(PublishError, match="vector index sync failed \\(index_unavailable\\)"):
        publish_vectors(vectors, s3, "gallery", "stack-vectors", cache_dir=tmp_path / "cache")
