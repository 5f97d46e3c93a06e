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


def resolve(document, node):
    while "$ref" in node:
        reference, node = node["$ref"], document
        for part in reference.removeprefix("#/").split("/"):
            node = node[part]
    return node


def test_public_url_is_an_origin_that_makes_valid_links(document):
    """`public_url` admits exactly the origins on which format.md section 1 builds a link."""
    pattern = document["components"]["schemas"]["CreateSecretResponse"]["properties"]["public_url"]["pattern"]
    for origin in ["https://burn.example.com", "http://127.0.0.1:8080", "https://[2001:db8::1]:8443",
                   "https://[::1]", "http://localhost:65535", "https://Burn.Example.COM:1"]:
        assert re.fullmatch(pattern, origin), origin
    for origin in ["https://burn.example.com/", "https://burn.example.com/prefix", "https://user@burn.example.com",
                   "https://user:pw@burn.example.com", "https://burn.example.com?q", "https://burn.example.com#f",
                   "ftp://burn.example.com", "HTTPS://burn.example.com", "https://", "https://burn.example.com:",
                   "https://burn.example.com:0", "https://burn.example.com:080", "https://burn.example.com:65536",
                   "https://[:]", "https://[2001:db8::1", "https://burn_example.com", "https://bürn.example.com",
                   "https://" + "a" * 254]:
        assert not re.fullmatch(pattern, origin), origin


def test_dependencies_name_header_parameters_of_their_operation(document):
    """Every name in an `x-dependencies` rule is a header the operation declares."""
    found = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "x-dependencies" not in operation:
                continue
            headers = {resolve(document, parameter)["name"]
                       for parameter in item.get("parameters", []) + operation.get("parameters", [])
                       if resolve(document, parameter)["in"] == "header"}
            for rule in operation["x-dependencies"]:
                match = re.fullmatch(r"AllOrNone\(([^()]*)\)", rule)
                assert match, f"{method.upper()} {path}: {rule!r}"
                names = [name.strip() for name in match.group(1).split(",")]
                assert len(names) >= 2 and set(names) <= headers, f"{method.upper()} {path}: {rule!r}"
                found += 1
    assert found >= 1
