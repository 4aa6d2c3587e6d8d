#!/usr/bin/env bash
# Checks the Kubernetes glue in deploy/kubernetes offline (no cluster):
# renders every manifest (each YAML document on its own), validates the
# built-in kinds against the schemas of a pinned Kubernetes version with
# PyPI's kubernetes-validate (strict: unknown fields are errors), the
# SpinKube SpinAppExecutor against deploy/kubernetes/schemas, and the
# containerd config snippet as TOML. The tools live in a virtualenv under
# target/ (made once, kept).
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSION=1.30.0
KUBERNETES_VALIDATE=1.37.0
venv=target/k8s-check/venv
rendered=target/k8s-check/rendered

if ! "$venv/bin/python" -c "import kubernetes_validate, jsonschema, yaml" 2>/dev/null \
  || [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))')" != "$KUBERNETES_VALIDATE" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE"
fi

rm -rf "$rendered"
mkdir -p "$rendered"
# Render: one file per document, named by kind and name; built-in kinds and
# custom resources apart. An unknown kind or a document without
# apiVersion/kind/metadata.name fails here.
"$venv/bin/python" - "$rendered" deploy/kubernetes/*.yaml <<'PY'
import json, pathlib, sys, yaml

out = pathlib.Path(sys.argv[1])
custom = {("core.spinkube.dev/v1alpha1", "SpinAppExecutor"): "spinappexecutor-v1alpha1.json"}
count = 0
for name in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(name)):
        if doc is None:
            continue
        for key in ("apiVersion", "kind"):
            if key not in doc:
                sys.exit(f"{name}: a document has no {key}")
        meta = doc.get("metadata") or {}
        if "name" not in meta:
            sys.exit(f"{name}: {doc['kind']} has no metadata.name")
        key = (doc["apiVersion"], doc["kind"])
        group = "custom" if key in custom else "builtin"
        if group == "custom":
            doc = {"__schema__": custom[key], "document": doc}
        target = out / group / f"{count:02}-{doc.get('kind', key[1]).lower()}-{meta['name']}.yaml"
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps(doc, indent=2))
        count += 1
print(f"rendered {count} documents from {len(sys.argv) - 2} files")
PY

echo "kubernetes-validate $KUBERNETES_VALIDATE, Kubernetes $KUBERNETES_VERSION (strict):"
"$venv/bin/kubernetes-validate" --strict -k "$KUBERNETES_VERSION" "$rendered"/builtin/*.yaml

"$venv/bin/python" - "$rendered" deploy/kubernetes/schemas <<'PY'
import json, pathlib, sys, jsonschema

rendered, schemas = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for path in sorted((rendered / "custom").glob("*.yaml")):
    wrapped = json.loads(path.read_text())
    schema = json.loads((schemas / wrapped["__schema__"]).read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(wrapped["document"]))
    for error in errors:
        print(f"{path.name}: {'/'.join(map(str, error.path)) or '(root)'}: {error.message}")
    if errors:
        sys.exit(1)
    print(f"{path.name} passed ({wrapped['__schema__']})")
PY

python3 - deploy/kubernetes/containerd-config.toml <<'PY'
import sys, tomllib

config = tomllib.load(open(sys.argv[1], "rb"))
runtime = config["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["nimbus"]
assert runtime == {"runtime_type": "io.containerd.nimbus.v1"}, runtime
print(f"{sys.argv[1]} passed (runtime nimbus -> io.containerd.nimbus.v1)")
PY
echo "check-k8s: all manifests passed"
