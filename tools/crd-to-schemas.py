#!/usr/bin/env python3
"""Convert CustomResourceDefinition YAML files into kubeconform-style JSON schemas.

Usage: crd-to-schemas.py OUT CRD.yaml...

Writes OUT/standalone/<kind>-<group0>-<version>.json and OUT/standalone-strict/... (the strict
variant sets additionalProperties: false wherever an object lists its properties, as
`kubeconform -strict` expects), the same layout as k8s-swagger-to-schemas.py."""
import copy
import json
import os
import sys

import yaml


def strict(s):
    if isinstance(s, list):
        return [strict(x) for x in s]
    if not isinstance(s, dict):
        return s
    r = {k: strict(v) for k, v in s.items()}
    if "properties" in r and "additionalProperties" not in r and not r.get("x-kubernetes-preserve-unknown-fields"):
        r["additionalProperties"] = False
    return r


def int_or_string(s):
    if isinstance(s, list):
        return [int_or_string(x) for x in s]
    if not isinstance(s, dict):
        return s
    if s.get("x-kubernetes-int-or-string") or s.get("format") == "int-or-string":
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    return {k: int_or_string(v) for k, v in s.items()}


def main():
    out, files = sys.argv[1], sys.argv[2:]
    n = 0
    for f in files:
        with open(f) as fh:
            for doc in yaml.safe_load_all(fh):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                kind = spec["names"]["kind"].lower()
                group0 = spec["group"].split(".")[0]
                for v in spec["versions"]:
                    schema = v.get("schema", {}).get("openAPIV3Schema")
                    if schema is None:
                        continue
                    schema = int_or_string(copy.deepcopy(schema))
                    schema["$schema"] = "http://json-schema.org/schema#"
                    name = f"{kind}-{group0}-{v['name']}.json"
                    for variant, s in (("standalone", schema), ("standalone-strict", strict(schema))):
                        d = os.path.join(out, variant)
                        os.makedirs(d, exist_ok=True)
                        with open(os.path.join(d, name), "w") as w:
                            json.dump(s, w)
                    n += 1
    print(n, "schemas written")


if __name__ == "__main__":
    main()
