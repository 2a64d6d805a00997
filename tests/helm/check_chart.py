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
    ("gateway.externalHost", "https://scim.example.com"),
    ("gateway.publicUrl", "scim.example.com"),
    ("gateway.maxConnections", 0),
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

# The gateway always gets a public URL from the chart (else it would copy the Host header into
# meta.location): the env var comes from the gw.publicUrl helper, whose chain ends in the Service URL.
helpers = (chart / "templates" / "_helpers.tpl").read_text()
m = re.search(r'- name: GATEWAY_PUBLIC_URL\n\s+value: (.*)\n', helpers)
if m is None or m.group(1).strip() != '{{ include "gw.publicUrl" . | quote }}':
    errors.append("GATEWAY_PUBLIC_URL is not set from the gw.publicUrl helper: %s" % (m.group(1) if m else "missing"))
m = re.search(r'\{\{- define "gw.publicUrl" -\}\}(.*?)\{\{- end -\}\}\n\{\{- end -\}\}', helpers, re.S)
chain = [] if m is None else re.findall(r'\{\{-? (if|else if|else)\b([^}]*)\}\}\n(.*)', m.group(1))
expected = [
    ("if", ".Values.gateway.publicUrl", "{{ .Values.gateway.publicUrl }}"),
    ("else if", ".Values.gateway.externalHost", "https://{{ .Values.gateway.externalHost }}"),
    ("else if", 'eq .Values.mode "sidecar"', '{{ include "gw.scheme" . | lower }}://127.0.0.1:{{ .Values.gateway.port }}'),
    ("else", "", '{{ include "gw.scheme" . | lower }}://{{ include "gw.name" . }}.{{ .Release.Namespace }}.svc:'
     "{{ .Values.service.port }}"),
]
got = [(k, c.strip().rstrip("-").strip(), body.strip()) for k, c, body in chain]
if got != expected:
    errors.append("gw.publicUrl is not publicUrl, then https://externalHost, then the sidecar or Service URL: %s" % got)
service = (chart / "templates" / "service.yaml").read_text()
if 'name: {{ include "gw.name" . }}' not in service or "port: {{ .Values.service.port }}" not in service:
    errors.append("the default public URL names a Service that service.yaml does not create")
if values["gateway"]["publicUrl"] != "" or values["gateway"]["externalHost"] != "":
    errors.append("the defaults must leave publicUrl and externalHost empty (the Service URL then applies)")

for e in errors:
    print(e)
print("%d problem(s); %d template references checked" % (len(errors), refs))
sys.exit(1 if errors else 0)
