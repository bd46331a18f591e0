"""OpenAPI (Swagger 2.0) loading for the ARM simulator's checks, shared by test_fidelity.py (which
validates the simulator's responses) and check_requests.py (which validates the request bodies a
client sent, from the simulator's log).

The saved specs (/work/shared/api/azure, or $ARMSIM_SPECS) are loaded into a jsonschema store under
their GitHub URIs, so relative $refs between files resolve as they do upstream; the shared
common-types under refs/ are mapped to BASE + their path below refs/ (refs/common-types/... ->
.../specification/common-types/..., refs/compute/... -> .../specification/compute/...).
Needs python3-jsonschema (Debian's /usr/bin/python3).
"""

import json
import os
import re
import urllib.parse

import jsonschema

SPECS = os.environ.get("ARMSIM_SPECS", "/work/shared/api/azure")


SPEC_FILES = {
    "aci": ("containerinstance-2026-05-01/containerInstance.json",
            "containerinstance/resource-manager/Microsoft.ContainerInstance/ContainerInstance/stable/2026-05-01/containerInstance.json"),
    "tm": ("trafficmanager-2026-09-01/trafficmanager.json",
           "trafficmanager/resource-manager/Microsoft.Network/TrafficManager/stable/2026-09-01/trafficmanager.json"),
    "file": ("storage-2025-06-01/file.json",
             "storage/resource-manager/Microsoft.Storage/stable/2025-06-01/file.json"),
    "storage": ("storage-2025-06-01/storage.json",
                "storage/resource-manager/Microsoft.Storage/stable/2025-06-01/storage.json"),
    "storagecommon": ("storage-2025-06-01/common.json",
                      "storage/resource-manager/Microsoft.Storage/stable/2025-06-01/common.json"),
    "storagepl": ("storage-2025-06-01/privatelinks.json",
                  "storage/resource-manager/Microsoft.Storage/stable/2025-06-01/privatelinks.json"),
    "vmss": ("compute-2024-11-01/virtualMachineScaleSet.json",
             "compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-11-01/virtualMachineScaleSet.json"),
    "computecommon": ("compute-2024-11-01/computeRPCommon.json",
                      "compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-11-01/computeRPCommon.json"),
}
BASE = "https://github.com/Azure/azure-rest-api-specs/specification/"

# Resource groups have no saved spec; this is ARM's ResourceGroup shape (resources.json), written here.
RG_SCHEMA = {"type": "object", "required": ["location"], "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"},
    "properties": {"type": "object", "properties": {"provisioningState": {"type": "string"}}},
    "location": {"type": "string"}, "managedBy": {"type": "string"},
    "tags": {"type": "object", "additionalProperties": {"type": "string"}}}}


def _swagger_to_jsonschema(node):
    """Swagger 2.0 schema objects -> JSON Schema draft 4: x-nullable, extensible (modelAsString) enums
    compared case-insensitively (the service returns e.g. leaseStatus "unlocked" for enum "Unlocked")."""
    if isinstance(node, dict):
        out = {k: _swagger_to_jsonschema(v) for k, v in node.items()}
        if "$ref" in out and "virtualMachine.json" in out["$ref"]:
            return {}                       # not saved (README: treat as open objects)
        if out.get("x-nullable") and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out and (out.get("x-ms-enum") or {}).get("modelAsString", False):
            vals = out.pop("enum")
            out["pattern"] = "^(?i:%s)$" % "|".join(re.escape(str(v)) for v in vals)
        return out
    if isinstance(node, list):
        return [_swagger_to_jsonschema(v) for v in node]
    return node


class Specs:
    def __init__(self, specs=None):
        specs = specs or SPECS
        self.store = {}
        for local, remote in SPEC_FILES.values():
            self._load(os.path.join(specs, local), BASE + remote)
        refs = os.path.join(specs, "refs")
        for root, _, files in os.walk(refs):
            for f in files:
                full = os.path.join(root, f)
                self._load(full, BASE + os.path.relpath(full, refs))
        self.store[BASE + "armsim/rg.json"] = {"definitions": {"ResourceGroup": RG_SCHEMA}}

    def _load(self, path, uri):
        with open(path) as f:
            self.store[uri] = _swagger_to_jsonschema(json.load(f))

    def uri(self, key, definition):
        if key == "types5":
            return BASE + "common-types/resource-management/v5/types.json#/definitions/" + definition
        if key == "rg":
            return BASE + "armsim/rg.json#/definitions/" + definition
        if key == "computeerr":
            return BASE + "compute/resource-manager/Microsoft.Compute/common-types/v1/common.json#/definitions/" + definition
        return BASE + SPEC_FILES[key][1] + "#/definitions/" + definition

    def resolve(self, uri):
        doc, _, frag = uri.partition("#")
        node = self.store[doc]
        for part in [p for p in frag.split("/") if p]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def validate(self, key, definition, instance):
        uri = self.uri(key, definition)
        resolver = jsonschema.RefResolver(base_uri=uri, referrer={}, store=self.store)
        jsonschema.Draft4Validator({"$ref": uri}, resolver=resolver).validate(instance)
        errs = []
        self._walk(instance, self.resolve(uri), uri, "$", errs)
        if errs:
            raise AssertionError("%s/%s: %s" % (key, definition, "; ".join(errs)))

    def _deref(self, schema, base):
        while "$ref" in schema:
            uri = urllib.parse.urljoin(base, schema["$ref"])
            if uri.startswith("#"):
                uri = base.partition("#")[0] + uri
            base = uri
            schema = self.resolve(uri)
        return schema, base

    def _collect(self, schema, base, props, extra):
        schema, base = self._deref(schema, base)
        for name, sub in (schema.get("properties") or {}).items():
            props[name] = (sub, base)
        ap = schema.get("additionalProperties")
        if ap is not None and ap is not False:
            extra.append((ap, base))
        for part in schema.get("allOf") or []:
            self._collect(part, base, props, extra)
        return schema

    def _walk(self, inst, schema, base, path, errs, request=False):
        """No property outside the schema (where the schema lists properties). For a response
        (request False) no x-ms-secret property; for a request no readOnly one (the service ignores
        or rejects what only it may set)."""
        schema, base = self._deref(schema, base)
        if isinstance(inst, dict):
            props, extra = {}, []
            self._collect(schema, base, props, extra)
            if not props and not extra:
                return                       # free-form object
            for k, v in inst.items():
                if k in props:
                    sub, b = props[k]
                    if request:
                        if self._deref(sub, b)[0].get("readOnly") or sub.get("readOnly"):
                            errs.append("%s.%s is readOnly but was sent" % (path, k))
                    elif sub.get("x-ms-secret"):
                        errs.append("%s.%s is x-ms-secret but was returned" % (path, k))
                    self._walk(v, sub, b, "%s.%s" % (path, k), errs, request)
                elif extra:
                    if isinstance(extra[0][0], dict):
                        self._walk(v, extra[0][0], extra[0][1], "%s.%s" % (path, k), errs, request)
                else:
                    errs.append("%s.%s is not in the schema" % (path, k))
        elif isinstance(inst, list) and isinstance(schema.get("items"), dict):
            for i, v in enumerate(inst):
                self._walk(v, schema["items"], base, "%s[%d]" % (path, i), errs, request)

    # --- operations (for request bodies) -------------------------------------------------------

    def operations(self):
        """[(METHOD, path regex, operationId, body schema or None, base URI, template)] for every
        operation of the main spec files (SPEC_FILES entries that have paths). Path templates match
        case-insensitively (ARM paths are), a {parameter} one segment."""
        if getattr(self, "_ops", None) is None:
            self._ops = []
            for _key, (_local, remote) in SPEC_FILES.items():
                doc_uri = BASE + remote
                doc = self.store[doc_uri]
                for template, item in {**doc.get("paths", {}), **doc.get("x-ms-paths", {})}.items():
                    shared = item.get("parameters") or []
                    rx = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template.split("?")[0])) + "$",
                                    re.IGNORECASE)
                    for method, op in item.items():
                        if method == "parameters" or not isinstance(op, dict):
                            continue
                        body, base = None, doc_uri
                        for p in shared + (op.get("parameters") or []):
                            pbase = doc_uri
                            if "$ref" in p:
                                p, pbase = self._deref(p, doc_uri)
                            if p.get("in") == "body":
                                body, base = p.get("schema", {}), pbase
                        self._ops.append((method.upper(), rx, op.get("operationId", "?"), body, base, template))
        return self._ops

    def find_operation(self, method, path):
        """The operation whose template matches METHOD PATH (the most literal template when several
        do), or None."""
        hits = [o for o in self.operations() if o[0] == method.upper() and o[1].match(path)]
        if not hits:
            return None
        return max(hits, key=lambda o: len(re.sub(r"\{[^}]*\}", "", o[5])))

    def request_errors(self, schema, base, instance):
        """Messages for INSTANCE against a body SCHEMA found in the document at BASE: JSON Schema
        (draft 4) errors, then properties the schema does not list (closed schemas) or marks readOnly."""
        doc = base.partition("#")[0]
        resolver = jsonschema.RefResolver(base_uri=base, referrer=self.store[doc], store=self.store)
        errs = []
        for e in sorted(jsonschema.Draft4Validator(schema, resolver=resolver).iter_errors(instance),
                        key=lambda e: list(e.absolute_path)):
            where = "$" + "".join("[%d]" % p if isinstance(p, int) else ".%s" % p for p in e.absolute_path)
            errs.append("%s: %s" % (where, e.message))
        self._walk(instance, schema, base, "$", errs, request=True)
        return errs
