"""schemathesis hooks for test_apifuzz.py (loaded through SCHEMATHESIS_HOOKS).

A request schemathesis generates as valid ("positive") is made valid by every rule of
docs/openapi.yaml, so that the server must accept all of them:

- rules the spec states outside JSON Schema: an operation's `x-dependencies`
  (`AllOrNone(a, b)`: headers a and b come together or not at all), and `mem` in
  Burnlink-Password-KDF from 8192 to 1073741824 and a multiple of 1024 (its description);
- a header `pattern` that schemathesis's coverage phase cannot satisfy (it builds header
  values from letters and digits, and fills the KDF header, whose pattern needs `; ` and
  `=`, with "0"): such a value is replaced by the parameter's example.

Invalid ("negative") requests are left as generated.
"""

import re

import schemathesis
from schemathesis import GenerationMode

ALL_OR_NONE = re.compile(r"AllOrNone\(([^()]*)\)")
KDF_HEADER = "Burnlink-Password-KDF"
KDF_MEM = re.compile(r"(?<=; mem=)[0-9]+(?=; )")
MEM_MIN, MEM_MAX, MEM_STEP = 8192, 1 << 30, 1024


def resolve(document, node):
    """`node` with its local `$ref`s followed."""
    while isinstance(node, dict) and "$ref" in node:
        reference, node = node["$ref"], document
        for part in reference.removeprefix("#/").split("/"):
            node = node[part]
    return node


def header_parameters(operation):
    document = operation.schema.raw_schema
    raw = operation.definition.raw
    path_item = document["paths"][operation.path]
    for parameter in path_item.get("parameters", []) + raw.get("parameters", []):
        parameter = resolve(document, parameter)
        if parameter.get("in") == "header":
            yield parameter, resolve(document, parameter.get("schema", {}))


def groups(operation):
    """The header groups of the operation's `x-dependencies` that must be all or none."""
    for rule in operation.definition.raw.get("x-dependencies", []):
        match = ALL_OR_NONE.fullmatch(rule.strip())
        if not match:
            raise ValueError(f"{operation.label}: x-dependencies rule not understood: {rule!r}")
        yield [name.strip() for name in match.group(1).split(",")]


def acceptable_mem(match):
    mem = min(max(int(match.group(0)), MEM_MIN), MEM_MAX)
    return str(mem - mem % MEM_STEP)


@schemathesis.hook
def map_case(context, case):
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE or not case.headers:
        return case
    headers = case.headers
    for parameter, schema in header_parameters(context.operation):
        name, pattern = parameter["name"], schema.get("pattern")
        value = headers.get(name)
        if pattern and isinstance(value, str) and not re.search(pattern, value):
            if "example" in parameter:
                headers[name] = parameter["example"]
            elif not parameter.get("required"):
                del headers[name]
    for names in groups(context.operation):
        present = [name for name in names if name in headers]
        if present and len(present) < len(names):
            for name in present:
                del headers[name]
    if isinstance(headers.get(KDF_HEADER), str):
        headers[KDF_HEADER] = KDF_MEM.sub(acceptable_mem, headers[KDF_HEADER])
    return case
