"""docs/openapi.yaml is a valid OpenAPI document and agrees with the Swift API contract.

Run with:  python3 -m pytest -q Tests/python/test_openapi.py
"""

import re
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parent.parent.parent
OPENAPI = ROOT / "docs" / "openapi.yaml"
API_SWIFT = ROOT / "Sources" / "BurnlinkProtocol" / "API.swift"


@pytest.fixture(scope="module")
def document():
    with OPENAPI.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def swift_error_codes():
    """The raw values of `enum ErrorCode` in API.swift: `case name = "raw"` lines."""
    text = API_SWIFT.read_text(encoding="utf-8")
    match = re.search(r"\benum\s+ErrorCode\b[^{]*\{(.*?)\n\}", text, re.S)
    assert match, "enum ErrorCode not found in API.swift"
    body = match.group(1)
    codes = re.findall(r'^\s*case\s+\w+\s*=\s*"([^"]*)"', body, re.M)
    # Every case must carry an explicit raw value, or this check would miss it.
    cases = re.findall(r"^\s*case\s+(\w+)", body, re.M)
    assert len(codes) == len(cases), f"cases without a raw value in ErrorCode: {cases}"
    return codes


def test_openapi_document_is_valid(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_error_code_enum_matches_swift(document):
    error = document["components"]["schemas"]["ErrorResponse"]["properties"]["error"]
    documented = error["enum"]
    swift = swift_error_codes()
    assert len(swift) >= 5
    assert len(documented) == len(set(documented)), "a code is listed twice in openapi.yaml"
    assert set(documented) == set(swift)
