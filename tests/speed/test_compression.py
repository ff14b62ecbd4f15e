"""Response compression negotiated by Accept-Encoding (platform_api.compression, docs/api.md)."""

from __future__ import annotations

import gzip

import orjson
import pytest
import zstandard

from platform_api.compression import negotiate

pytestmark = pytest.mark.django_db

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("identity", None),
        ("gzip", "gzip"),
        ("zstd", "zstd"),
        ("gzip, deflate, br, zstd", "zstd"),
        ("zstd;q=0, gzip", "gzip"),
        ("zstd;q=0.5, gzip;q=0.8", "gzip"),
        ("*", "zstd"),
        ("*;q=0", None),
        ("gzip;q=nonsense", None),
        ("br", None),
    ],
)
def test_accept_encoding_picks_the_best_offered_encoding(header, expected):
    assert negotiate(header) == expected


def page(researcher, encoding: str | None):
    headers = {"HTTP_ACCEPT_ENCODING": encoding} if encoding else {}
    return researcher.get(RECORDS, {"page_size": 200}, **headers)


def test_a_records_page_is_zstd_compressed_when_offered_and_decodes_to_the_same_json(release, researcher):
    plain = page(researcher, None)
    assert plain.status_code == 200
    assert "Content-Encoding" not in plain
    assert "Accept-Encoding" in plain["Vary"]
    compressed = page(researcher, "gzip, zstd")
    assert compressed["Content-Encoding"] == "zstd"
    assert "Accept-Encoding" in compressed["Vary"]
    assert int(compressed["Content-Length"]) == len(compressed.content) < len(plain.content) / 4
    decoded = zstandard.ZstdDecompressor().decompress(compressed.content)
    assert orjson.loads(decoded)["data"] == orjson.loads(plain.content)["data"]


def test_a_records_page_is_gzip_compressed_for_a_client_offering_only_gzip(release, researcher):
    plain = page(researcher, None)
    compressed = page(researcher, "gzip")
    assert compressed["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(compressed.content))["data"] == orjson.loads(plain.content)["data"]


def test_a_large_error_envelope_is_compressed_too(release, researcher):
    query = {"and": [{"operation": "EQ", "field_name": f"nope_{i}", "field_values": ["x"]} for i in range(60)]}
    response = researcher.post(RECORDS, {"query": query}, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 400
    body = gzip.decompress(response.content) if response.get("Content-Encoding") == "gzip" else response.content
    assert orjson.loads(body)["error"]["code"] == "invalid_query"


def test_html_pages_are_never_compressed(client):
    # Portal pages carry CSRF tokens next to reflected input: compressing them would open BREACH.
    response = client.get("/portal/login/", HTTP_ACCEPT_ENCODING="gzip, zstd")
    assert response.status_code == 200
    assert "Content-Encoding" not in response
