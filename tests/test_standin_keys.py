"""The stand-in shows keys masked as the admin does, and short test keys still readably."""

import json
import urllib.request

import pytest

from enterspeed_sync.delivery.client import mask_api_key as admin_mask_key
from enterspeed_sync.testing import IngestStandIn, mask_key


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("source-9f8e7d6c-1234-5678-9abc-def012345678", "source-…5678"),
        ("source-0123456789abcdef", "source-…cdef"),
        ("source-local", "source-l…l"),
        ("source-standin", "source-s…n"),
        ("source-a", "source-a…"),
        ("", ""),
    ],
)
def test_mask_key(key, masked):
    assert mask_key(key) == masked


def test_real_keys_look_as_in_the_admin():
    key = "source-9f8e7d6c-1234-5678-9abc-def012345678"
    assert mask_key(key) == admin_mask_key(key)


def test_two_short_keys_stay_apart_in_the_entities_view():
    with IngestStandIn(api_keys=["source-local", "source-tests"]) as standin:
        with urllib.request.urlopen(f"{standin.url}/_standin/entities", timeout=10) as response:
            sources = json.load(response)
    assert sorted(sources) == ["source-l…l", "source-t…s"]
