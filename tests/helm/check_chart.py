#!/usr/bin/env python3
"""Checks the Helm chart without helm (not packaged for Debian 12):
1. values.yaml is valid against values.schema.json;
2. every value path in values.yaml is described in the schema (a "description" on each level);
3. every .Values.x.y reference in the templates exists in values.yaml;
4. the schema rejects a few wrong values, so check 1 is not vacuous;
5. the database rules (README "High availability"), through a small evaluator of the templates'
   control flow (if/else/with/range/define/include and the functions the conditions use): which
   strategy, volumes, Secrets and PodDisruptionBudget SQLite and PostgreSQL values render."""
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

# ---- the database rules ------------------------------------------------------------------------
#
# Not helm: only what the rules need. Actions that are not control flow or include render as
# "<<action>>"; include renders the define'd body (without nindent); fail raises TemplateFail.


class TemplateFail(Exception):
    pass


ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def tokens_of(text):
    out, pos = [], 0
    for m in ACTION.finditer(text):
        lit = text[pos:m.start()]
        if m.group(1):
            lit = lit.rstrip()
        out.append(("text", lit))
        out.append(("action", m.group(2)))
        pos = m.end()
        if m.group(3):
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
    out.append(("text", text[pos:]))
    return out


def parse_expr(src):
    toks = re.findall(r'"[^"]*"|\(|\)|\||[^\s()|]+', src)

    def term(i):
        if toks[i] == "(":
            e, i = seq(i + 1)
            return e, i + 1  # the ")"
        return ("atom", toks[i]), i + 1

    def seq(i):
        items = []
        while i < len(toks) and toks[i] not in (")", "|"):
            t, i = term(i)
            items.append(t)
        e = ("call", items) if len(items) > 1 else items[0]
        while i < len(toks) and toks[i] == "|":  # a pipe: the left value becomes the last argument
            items, i2 = [], i + 1
            while i2 < len(toks) and toks[i2] not in (")", "|"):
                t, i2 = term(i2)
                items.append(t)
            e, i = ("call", items + [e]), i2
        return e, i

    return seq(0)[0]


class Renderer:
    def __init__(self, values, defines):
        self.values, self.defines = values, defines

    def value(self, e):
        if e[0] == "atom":
            a = e[1]
            if a.startswith('"'):
                return a[1:-1]
            if re.fullmatch(r"-?[0-9]+", a):
                return int(a)
            if a == ".":
                return self.values
            if a.startswith(".Values."):
                node = self.values
                for p in a[len(".Values."):].split("."):
                    node = node.get(p) if isinstance(node, dict) else None
                return node
            if a.startswith(".Release.") or a.startswith(".Chart."):
                return "RELEASE"
            return self.call(a, [])
        items = e[1]
        name = items[0][1]
        return self.call(name, items[1:])

    def call(self, name, args):
        v = lambda k: self.value(args[k])  # noqa: E731
        if name == "not":
            return not v(0)
        if name == "and":
            return all(v(k) for k in range(len(args)))
        if name == "or":
            return any(v(k) for k in range(len(args)))
        if name == "eq":
            return v(0) == v(1)
        if name == "gt":
            return v(0) > v(1)
        if name == "int":
            return int(v(0) or 0)
        if name == "include":
            return self.render(self.defines[v(0)])
        if name == "fail":
            raise TemplateFail(v(0))
        if name == "default":
            return v(1) or v(0)
        if name == "printf":
            return v(0) % tuple(str(v(k)) for k in range(1, len(args)))
        if name in ("nindent", "indent", "lower", "required"):  # the piped value (last), as text
            last = v(len(args) - 1)
            return last if isinstance(last, str) else "<<%s>>" % name
        if name == "quote":
            return '"%s"' % v(0)
        if name in ("toYaml", "join"):
            return "<<%s>>" % name
        raise ValueError("the evaluator does not know %r" % name)

    def render(self, text):
        out, stack = [], []  # stack: [kind, this branch taken, a branch taken so far, emitting before]
        emitting = True
        for kind, body in tokens_of(text):
            if kind == "text":
                if emitting:
                    out.append(body)
                continue
            if body.startswith("/*"):
                continue
            word = body.split(None, 1)
            head, rest = word[0], word[1] if len(word) > 1 else ""
            if head in ("if", "with", "range", "define"):
                if head == "define":
                    cond = False
                else:
                    cond = bool(self.value(parse_expr(rest))) if emitting else False
                stack.append([head, cond, cond, emitting])
                emitting = emitting and cond
            elif head == "else":
                top = stack[-1]
                if rest.startswith("if "):
                    cond = not top[2] and top[3] and bool(self.value(parse_expr(rest[3:])))
                else:
                    cond = not top[2]
                top[1], top[2] = cond, top[2] or cond
                emitting = top[3] and cond
            elif head == "end":
                emitting = stack.pop()[3]
            elif emitting:
                r = self.value(parse_expr(body))
                out.append(r if isinstance(r, str) else "<<%s>>" % body)
        assert not stack, "unbalanced template"
        return "".join(out)


def defines_of(text):
    found, stack, name, start = {}, [], None, 0
    for m in ACTION.finditer(text):
        body = m.group(2)
        head = body.split(None, 1)[0] if body else ""
        if head == "define" and not stack:
            name, start = body.split('"')[1], m.end()
            stack.append("define")
        elif head in ("if", "with", "range", "define"):
            stack.append(head)
        elif head == "end" and stack:
            if stack.pop() == "define" and not stack:
                found[name] = text[start:m.start()] + ("" if not m.group(1) else "")
    return found


defines = defines_of((chart / "templates" / "_helpers.tpl").read_text())


def render(tpl, overrides):
    v = copy.deepcopy(values)
    for dotted, val in overrides.items():
        node = v
        parts = dotted.split(".")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = val
    return Renderer(v, defines).render((chart / "templates" / tpl).read_text())


def schema_ok(overrides):
    v = copy.deepcopy(values)
    for dotted, val in overrides.items():
        node = v
        parts = dotted.split(".")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = val
    return validator.is_valid(v)


PG_URL = {"database.url": "postgres://gw:pw@db:5432/gw"}
PG_SECRET = {"database.existingSecret": "gw-db", "database.existingSecretKey": "dsn"}
schema_cases = [
    ({"replicas": 2}, False, "replicas: 2 with SQLite"),
    ({"replicas": 3, "persistence.existingClaim": "shared"}, False, "replicas: 3 with SQLite on a shared claim"),
    (dict(PG_URL, replicas=2), True, "replicas: 2 with database.url"),
    (dict(PG_SECRET, replicas=2), True, "replicas: 2 with database.existingSecret"),
    (dict(PG_URL, **PG_SECRET), False, "database.url and database.existingSecret together"),
    ({"database.url": "mysql://db/gw"}, False, "a database.url that is not PostgreSQL"),
    ({"replicas": 0}, False, "replicas: 0"),
    ({"replicas": 1}, True, "replicas: 1 with SQLite"),
]
for overrides, ok, what in schema_cases:
    if schema_ok(overrides) != ok:
        errors.append("the schema %s %s" % ("refuses" if ok else "accepts", what))

try:
    render("deployment.yaml", {"replicas": 2})
    errors.append("deployment.yaml renders replicas: 2 with SQLite (the schema is the first guard, fail the second)")
except TemplateFail:
    pass

for name, db in (("SQLite", {}), ("PostgreSQL (url)", PG_URL), ("PostgreSQL (existing Secret)", PG_SECRET)):
    pg = bool(db)
    for replicas in (1, 3) if pg else (1,):
        o = dict(db, replicas=replicas)
        dep, pvc, pdb = render("deployment.yaml", o), render("pvc.yaml", o), render("pdb.yaml", o)
        sec, net = render("secrets.yaml", o), render("networkpolicy.yaml", dict(o, **{"networkPolicy.enabled": True}))
        where = "%s, replicas %d" % (name, replicas)
        strategy = re.findall(r"type: (RollingUpdate|Recreate)", dep)
        if strategy != (["RollingUpdate"] if pg else ["Recreate"]):
            errors.append("%s: strategy %s" % (where, strategy))
        if ("replicas: <<.Values.replicas>>" in dep) is False:
            errors.append("%s: the Deployment's replicas are not .Values.replicas" % where)
        if bool(pvc.strip()) == pg:
            errors.append("%s: %s PVC" % (where, "a" if pg else "no"))
        if ("emptyDir" in dep) != pg or ("persistentVolumeClaim" in dep) == pg:
            errors.append("%s: the data volume is not %s" % (where, "an emptyDir" if pg else "the PVC"))
        if ("GATEWAY_DATABASE_URL_FILE" in dep) != pg or "GATEWAY_DATABASE_URL\n" in dep:
            errors.append("%s: GATEWAY_DATABASE_URL_FILE %s" % (where, "missing" if pg else "set"))
        if pg:
            key = "dsn" if "database.existingSecret" in db else "url"
            secret = "gw-db" if "database.existingSecret" in db else "RELEASE-odeus-scim-gateway-database"
            if "value: /secrets/database/%s" % key not in dep or "secretName: %s" % secret not in dep:
                errors.append("%s: the URL file is not key %s of Secret %s" % (where, key, secret))
            if "mountPath: /secrets/database" not in dep or "fieldPath: metadata.name" not in dep:
                errors.append("%s: no database Secret mount or no replica name from the pod name" % where)
            if "databasePort" not in net:
                errors.append("%s: the NetworkPolicy does not let the gateway reach the database" % where)
        if ("name: RELEASE-odeus-scim-gateway-database" in sec) != ("database.url" in db):
            errors.append("%s: the chart's database Secret is %s" % (where, "missing" if "database.url" in db else "made"))
        if ("kind: PodDisruptionBudget" in pdb) != (replicas > 1):
            errors.append("%s: %s PodDisruptionBudget" % (where, "no" if replicas > 1 else "a"))
        if replicas > 1 and "maxUnavailable: 1" not in pdb:
            errors.append("%s: the PodDisruptionBudget does not allow one pod down" % where)
# an existing claim with PostgreSQL: shared by the replicas for their audit logs, no PVC made
o = dict(PG_URL, replicas=2, **{"persistence.existingClaim": "shared-rwx"})
if "claimName: shared-rwx" not in render("deployment.yaml", o) or render("pvc.yaml", o).strip():
    errors.append("PostgreSQL with persistence.existingClaim: the claim is not mounted, or a PVC is made")
if render("pdb.yaml", dict(PG_URL, replicas=2, mode="sidecar")).strip():
    errors.append("a PodDisruptionBudget in sidecar mode (there is no Deployment of ours)")


for e in errors:
    print(e)
print("%d problem(s); %d template references checked" % (len(errors), refs))
sys.exit(1 if errors else 0)
