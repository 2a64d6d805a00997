#!/usr/bin/env python3
"""Checks the Helm chart without helm (not packaged for Debian 12):
1. values.yaml is valid against values.schema.json;
2. every value path in values.yaml is described in the schema (a "description" on each level);
3. every .Values.x.y reference in the templates exists in values.yaml;
4. the schema rejects a few wrong values, so check 1 is not vacuous."""
import copy
import json
import pathlib
import re
import sys

import jsonschema
import yaml

chart = pathlib.Path(sys.argv[1])
values = yaml.safe_load((chart / "values.yaml").read_text())
schema = json.loads((chart / "values.schema.json").read_text())
errors = []

validator = jsonschema.Draft202012Validator(schema)
for e in validator.iter_errors(values):
    errors.append("values.yaml: %s: %s" % ("/".join(map(str, e.path)), e.message))


def described(node, schema_node, path):
    for key, value in node.items():
        sub = schema_node.get("properties", {}).get(key)
        where = ".".join(path + [key])
        if sub is None:
            errors.append("schema does not describe %s" % where)
            continue
        if "description" not in sub:
            errors.append("schema has no description for %s" % where)
        if isinstance(value, dict) and "properties" in sub:
            described(value, sub, path + [key])


described(values, schema, [])


def has_path(node, parts):
    for p in parts:
        if not isinstance(node, dict) or p not in node:
            return False
        node = node[p]
    return True


refs = 0
for tpl in sorted((chart / "templates").glob("*")):
    for m in re.finditer(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", tpl.read_text()):
        refs += 1
        parts = m.group(1).lstrip(".").split(".")
        if not has_path(values, parts):
            errors.append("%s: .Values.%s is not in values.yaml" % (tpl.name, ".".join(parts)))
if refs < 30:
    errors.append("only %d .Values references found: the template scan is broken" % refs)

bad_cases = [
    ("mode", "replicated"),
    ("gateway.threads", 0),
    ("gateway.proxyHeader", "forwarded"),
    ("gateway.unknownKey", 1),
    ("image.tag", ""),
]
for dotted, bad in bad_cases:
    v = copy.deepcopy(values)
    node = v
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = bad
    if validator.is_valid(v):
        errors.append("the schema accepts %s = %r" % (dotted, bad))
v = copy.deepcopy(values)
v["tls"]["enabled"] = True
if validator.is_valid(v):
    errors.append("the schema accepts tls.enabled without tls.secretName")

for e in errors:
    print(e)
print("%d problem(s); %d template references checked" % (len(errors), refs))
sys.exit(1 if errors else 0)
