#!/usr/bin/python3
"""Fidelity tests of the ARM / Entra ID / IMDS simulator (armsim.py).

(a) The Azure SDK for Python from Debian (python3-azure) drives the simulator for every operation
    berth uses and must deserialize every response, once with the api-version the SDK package sends
    and once with each api-version berth uses (a pipeline policy rewrites the query parameter).
(b) Every ARM response body seen in these tests validates against the saved OpenAPI specs
    (/work/shared/api/azure), including a check that no property outside the schema and no
    x-ms-secret property is returned.
(c) Behaviour tests: token and IMDS errors, 401s, api-version errors, faults, LROs, paging,
    ETags, secrets.

ARMSIM_URL names a running simulator (run.sh starts one). Run with /usr/bin/python3.
"""

import json
import os
import re
import shutil
import socket
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPConnection, RemoteDisconnected

import jsonschema

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.v2022_08_01 import models as cm
from azure.mgmt.containerinstance import ContainerInstanceManagementClient
from azure.mgmt.containerinstance import models as am
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.v2022_09_01 import models as sm
from azure.mgmt.trafficmanager import TrafficManagerManagementClient
from azure.mgmt.trafficmanager import models as tmm

from openapi import Specs

SIM = os.environ.get("ARMSIM_URL", "http://127.0.0.1:8765").rstrip("/")
SUB = "00000000-0000-0000-0000-0000000000b1"
TENANT = "72f988bf-0000-0000-0000-0000000000aa"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t-Value~1"
FED_CLIENT = "66666666-2222-3333-4444-555555555555"
FED_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmJlcnRoIn0.c2ln"
RG = "berth-rg"
ACCOUNT = "berthsa01"
KEY1 = "a2V5MS1zZWNyZXQtdmFsdWUtZm9yLWJlcnRoLXRlc3RzLTAxMjM0NTY3ODk="
KEY2 = "a2V5Mi1zZWNyZXQtdmFsdWUtZm9yLWJlcnRoLXRlc3RzLTAxMjM0NTY3ODk="
VMSS = "berthvmss"
SCOPE = "https://management.azure.com/.default"

# api-versions: the one the installed SDK package sends first, then the ones berth uses.
VERSIONS = {
    "aci": ["2022-10-01-preview", "2026-05-01", "2023-05-01"],
    "tm": ["2022-04-01-preview", "2026-09-01", "2022-04-01"],
    "storage": ["2022-09-01", "2025-06-01", "2023-05-01"],
    "compute": ["2022-08-01", "2024-11-01"],
    "resources": ["2022-09-01", "2021-04-01"],
}


# ------------------------------------------------------------------------------------------------
# raw HTTP helpers

class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.raw = status, headers, body
        try:
            self.json = json.loads(body.decode()) if body else None
        except ValueError:
            self.json = None


def http(method, url, body=None, headers=None, form=None, validate=True):
    if not url.startswith("http"):
        url = SIM + url
    hdrs = dict(headers or {})
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif body is not None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            resp = Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        resp = Resp(e.code, e.headers, e.read())
    if validate:
        RECORDED.append((method, url, resp.status, resp.json))
    return resp


def ctl(path, body=None):
    r = http("POST" if body is not None else "GET", "/_sim/" + path, body, validate=False)
    assert r.status == 200, (path, r.status, r.raw)
    return r.json


def get_token(tenant=TENANT, client_id=CLIENT_ID, secret=SECRET):
    r = http("POST", "/%s/oauth2/v2.0/token" % tenant, validate=False,
             form={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                   "scope": SCOPE})
    assert r.status == 200, r.raw
    return r.json["access_token"]


def arm(method, path, body=None, token=None, api_version=None, headers=None):
    h = {"Authorization": "Bearer " + (token or get_token())}
    h.update(headers or {})
    if api_version:
        path += ("&" if "?" in path else "?") + "api-version=" + api_version
    return http(method, path, body, h)


def rgpath(provider_path):
    return "/subscriptions/%s/resourceGroups/%s/providers/%s" % (SUB, RG, provider_path)


# ------------------------------------------------------------------------------------------------
# OpenAPI validation (the spec loading and $ref resolution live in openapi.py, shared with
# check_requests.py)

SPEC = Specs()
RECORDED = []          # (method, url, status, body) of every ARM response seen


def schema_for(method, url, status, body):
    """(spec key, definition) for an ARM response, or None when it has no body."""
    path = urllib.parse.urlsplit(url).path.lower()
    prov = ("aci" if "microsoft.containerinstance" in path else "tm" if "microsoft.network" in path else
            "storage" if "microsoft.storage" in path else "vmss" if "microsoft.compute" in path else "rg")
    if body is None:
        return None
    if status >= 400:
        return {"aci": ("aci", "CloudError"), "tm": ("tm", "CloudError"),
                "storage": ("storagecommon", "CloudError"), "vmss": ("computeerr", "CloudError"),
                "rg": ("types5", "ErrorResponse")}[prov]
    if re.search(r"/locations/[^/]+/operations/", path):
        return ("types5", "OperationStatusResult")
    if re.search(r"/locations/[^/]+/operationresults/", path):
        return {"aci": ("aci", "ContainerGroup"), "vmss": ("vmss", "VirtualMachineScaleSet")}[prov]
    rules = [
        (r"/containergroups$", ("aci", "ContainerGroupListResult")),
        (r"/containergroups/[^/]+$", ("aci", "ContainerGroup")),
        (r"/trafficmanagerprofiles$", ("tm", "ProfileListResult")),
        (r"/trafficmanagerprofiles/[^/]+$", ("tm", "DeleteOperationResult" if method == "DELETE" else "Profile")),
        (r"/trafficmanagerprofiles/[^/]+/[^/]+/[^/]+$", ("tm", "DeleteOperationResult" if method == "DELETE" else "Endpoint")),
        (r"/shares$", ("file", "FileShareItems")),
        (r"/shares/[^/]+$", ("file", "FileShare")),
        (r"/listkeys$", ("storage", "StorageAccountListKeysResult")),
        (r"/virtualmachinescalesets/[^/]+$", ("vmss", "VirtualMachineScaleSet")),
        (r"/virtualmachinescalesets/[^/]+/virtualmachines$", ("vmss", "VirtualMachineScaleSetVMListResult")),
        (r"/virtualmachinescalesets/[^/]+/virtualmachines/[^/]+$", ("vmss", "VirtualMachineScaleSetVM")),
        (r"^/subscriptions/[^/]+/resourcegroups/[^/]+$", ("rg", "ResourceGroup")),
    ]
    for rx, res in rules:
        if re.search(rx, path):
            return res
    raise AssertionError("no schema known for %s %s" % (method, url))


def validate_body(method, url, status, body):
    if urllib.parse.urlsplit(url).path.startswith(("/_sim", "/metadata")) or "/oauth2/" in url:
        return
    sch = schema_for(method, url, status, body)
    if sch is None:
        return
    key, definition = sch
    SPEC.validate(key, definition, body)


# ------------------------------------------------------------------------------------------------
# SDK plumbing

class SimCredential:
    """A TokenCredential that gets its token from the simulator's Entra ID endpoint."""

    def __init__(self):
        self.calls = 0

    def get_token(self, *scopes, **kwargs):
        self.calls += 1
        assert scopes == (SCOPE,), scopes
        r = http("POST", "/%s/oauth2/v2.0/token" % TENANT, validate=False,
                 form={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                       "scope": scopes[0]})
        assert r.status == 200, r.raw
        return AccessToken(r.json["access_token"], int(time.time()) + int(r.json["expires_in"]))


class HttpAuthPolicy(ARMChallengeAuthenticationPolicy):
    """The SDK's own ARM bearer policy, minus its refusal to send a token over plain http."""

    @staticmethod
    def _enforce_https(request):
        return None


class Recorder(SansIOHTTPPolicy):
    """Records every response the SDK receives (initial calls, LRO polls, next pages)."""

    def on_response(self, request, response):
        r = response.http_response
        body = r.body()
        try:
            parsed = json.loads(body.decode()) if body else None
        except ValueError:
            parsed = "<not json>"
        RECORDED.append((request.http_request.method, request.http_request.url, r.status_code, parsed))


class ApiVersion(SansIOHTTPPolicy):
    """Rewrites api-version on every request (also polls and next pages) to the version under test."""

    def __init__(self, version):
        self.version = version

    def on_request(self, request):
        u = urllib.parse.urlsplit(request.http_request.url)
        q = [(k, v) for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True) if k != "api-version"]
        q.append(("api-version", self.version))
        request.http_request.url = urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q)))


SDK_DEFAULT = {v[0] for v in VERSIONS.values()}


def sdk(cls, version=None, **kw):
    cred = SimCredential()
    per_call = [ApiVersion(version)] if version and version not in SDK_DEFAULT else []
    return cls(cred, SUB, base_url=SIM, authentication_policy=HttpAuthPolicy(cred, SCOPE),
               per_call_policies=per_call, per_retry_policies=[Recorder()], polling_interval=0,
               retry_backoff_factor=0.01, **kw)


# ------------------------------------------------------------------------------------------------

class SimTest(unittest.TestCase):
    def setUp(self):
        del RECORDED[:]
        ctl("reset", {})
        ctl("credentials", {"tenant": TENANT, "client_id": CLIENT_ID, "client_secret": SECRET})
        ctl("credentials", {"tenant": TENANT, "client_id": FED_CLIENT, "federated_token": FED_TOKEN})
        ctl("config", {"lro_polls": 2, "page_size": 100, "token_lifetime": 3599})
        ctl("seed", {"resource_groups": [{"subscription": SUB, "name": RG, "location": "westus"}],
                     "storage_accounts": [{"subscription": SUB, "resource_group": RG, "name": ACCOUNT,
                                           "location": "westus", "keys": [KEY1, KEY2]}],
                     "scale_sets": [{"subscription": SUB, "resource_group": RG, "name": VMSS,
                                     "location": "westus", "capacity": 2, "sku": "Standard_D2s_v3"}]})

    def tearDown(self):
        # (b) every ARM response body seen in the test validates against the saved OpenAPI specs
        problems = []
        for method, url, status, body in RECORDED:
            try:
                validate_body(method, url, status, body)
            except (AssertionError, jsonschema.ValidationError) as e:
                problems.append("%s %s -> %d: %s" % (method, url, status, str(e).splitlines()[0][:400]))
        del RECORDED[:]
        if problems:
            raise AssertionError("responses not valid per the OpenAPI specs:\n" + "\n".join(problems))

    def assertArmError(self, r, status, code):
        self.assertEqual(r.status, status, r.raw)
        self.assertEqual(r.json["error"]["code"], code, r.raw)
        self.assertTrue(r.json["error"]["message"])


# ---------------------------------------------------------------------------------------- (a) SDK

def aci_group(dns_label, image="busybox:1.36", cpu=1.0, tags=None):
    return am.ContainerGroup(
        location="westus", tags=tags or {"berth.owner": "demo"}, os_type="Linux", restart_policy="Always",
        containers=[am.Container(
            name="web", image=image, command=["httpd", "-f", "-p", "80"],
            ports=[am.ContainerPort(port=80, protocol="TCP")],
            environment_variables=[am.EnvironmentVariable(name="MODE", value="prod"),
                                   am.EnvironmentVariable(name="TOKEN", secure_value="hunter2-secure")],
            resources=am.ResourceRequirements(requests=am.ResourceRequests(cpu=cpu, memory_in_gb=1.5)),
            volume_mounts=[am.VolumeMount(name="data", mount_path="/data")])],
        ip_address=am.IpAddress(type="Public", dns_name_label=dns_label, ports=[am.Port(port=80, protocol="TCP")]),
        volumes=[am.Volume(name="data", azure_file=am.AzureFileVolume(
            share_name="data", storage_account_name=ACCOUNT, storage_account_key=KEY1))])


class SdkResourceGroups(SimTest):
    def _run(self, version):
        c = sdk(ResourceManagementClient, version)
        g = c.resource_groups.create_or_update("berth-new", {"location": "westeurope", "tags": {"a": "b"}})
        self.assertEqual((g.name, g.location, g.tags, g.properties.provisioning_state),
                         ("berth-new", "westeurope", {"a": "b"}, "Succeeded"))
        self.assertEqual(RECORDED[-1][2], 201)
        c.resource_groups.create_or_update("berth-new", {"location": "westeurope"})
        self.assertEqual(RECORDED[-1][2], 200)
        self.assertEqual(c.resource_groups.get("BERTH-NEW").id, "/subscriptions/%s/resourceGroups/berth-new" % SUB)
        self.assertTrue(c.resource_groups.check_existence("berth-new"))
        self.assertFalse(c.resource_groups.check_existence("nope"))
        with self.assertRaises(ResourceNotFoundError) as e:
            c.resource_groups.get("nope")
        self.assertEqual(e.exception.error.code, "ResourceGroupNotFound")


class SdkContainerGroups(SimTest):
    def _run(self, version):
        st = sdk(StorageManagementClient, VERSIONS["storage"][0 if version == VERSIONS["aci"][0] else 1])
        key = st.storage_accounts.list_keys(RG, ACCOUNT).keys[0].value
        self.assertEqual(key, KEY1)
        c = sdk(ContainerInstanceManagementClient, version)
        poller = c.container_groups.begin_create_or_update(RG, "web-1", aci_group("berth-web"))
        put = [r for r in RECORDED if r[0] == "PUT"][0]
        self.assertEqual((put[2], put[3]["properties"]["provisioningState"]), (201, "Pending"))
        g = poller.result()
        self.assertEqual(g.provisioning_state, "Succeeded")
        self.assertEqual(g.ip_address.fqdn, "berth-web.westus.azurecontainer.io")
        polls = [r for r in RECORDED if "/operations/" in r[1]]
        self.assertEqual([p[3]["status"] for p in polls], ["InProgress", "Succeeded"])
        g = c.container_groups.get(RG, "web-1")
        self.assertEqual(g.instance_view.state, "Running")
        self.assertEqual(g.containers[0].instance_view.current_state.state, "Running")
        env = {e.name: (e.value, e.secure_value) for e in g.containers[0].environment_variables}
        self.assertEqual(env, {"MODE": ("prod", None), "TOKEN": (None, None)})
        self.assertIsNone(g.volumes[0].azure_file.storage_account_key)
        self.assertEqual(g.volumes[0].azure_file.share_name, "data")
        # update = PUT the whole group again (200)
        g2 = c.container_groups.begin_create_or_update(RG, "web-1", aci_group("berth-web", image="busybox:1.37")).result()
        self.assertEqual(g2.containers[0].image, "busybox:1.37")
        self.assertEqual([r[2] for r in RECORDED if r[0] == "PUT"], [201, 200])
        g3 = c.container_groups.update(RG, "web-1", am.Resource(tags={"berth.owner": "demo", "v": "2"}))
        self.assertEqual(g3.tags, {"berth.owner": "demo", "v": "2"})
        c.container_groups.begin_create_or_update(RG, "web-2", aci_group("berth-web2")).result()
        names = sorted(x.name for x in c.container_groups.list_by_resource_group(RG))
        self.assertEqual(names, ["web-1", "web-2"])
        self.assertEqual(sorted(x.name for x in c.container_groups.list()), ["web-1", "web-2"])
        c.container_groups.begin_delete(RG, "web-1").result()
        self.assertEqual([r[2] for r in RECORDED if r[0] == "DELETE"], [202])
        with self.assertRaises(ResourceNotFoundError) as e:
            c.container_groups.get(RG, "web-1")
        self.assertEqual(e.exception.error.code, "ResourceNotFound")
        c.container_groups.begin_delete(RG, "web-1").result()
        self.assertEqual([r[2] for r in RECORDED if r[0] == "DELETE"], [202, 204])
        self.assertNotIn("hunter2-secure", json.dumps([r[3] for r in RECORDED]))
        self.assertNotIn(KEY1, json.dumps([r[3] for r in RECORDED if "listKeys" not in r[1]]))


class SdkTrafficManager(SimTest):
    def _run(self, version):
        c = sdk(TrafficManagerManagementClient, version)
        p = c.profiles.create_or_update(RG, "berth-tm", tmm.Profile(
            location="global", tags={"berth.owner": "demo"}, profile_status="Enabled",
            traffic_routing_method="Weighted", dns_config=tmm.DnsConfig(relative_name="berth-demo", ttl=30),
            monitor_config=tmm.MonitorConfig(protocol="HTTP", port=80, path="/healthz")))
        self.assertEqual(RECORDED[-1][2], 201)
        self.assertEqual(p.dns_config.fqdn, "berth-demo.trafficmanager.net")
        self.assertEqual((p.monitor_config.interval_in_seconds, p.monitor_config.timeout_in_seconds,
                          p.monitor_config.tolerated_number_of_failures), (30, 10, 3))
        self.assertEqual(p.monitor_config.profile_monitor_status, "Inactive")
        e = c.endpoints.create_or_update(RG, "berth-tm", "ExternalEndpoints", "aci-westus", tmm.Endpoint(
            target="berth-web.westus.azurecontainer.io", endpoint_status="Enabled", weight=100))
        self.assertEqual((e.weight, e.endpoint_monitor_status, e.type),
                         (100, "CheckingEndpoint", "Microsoft.Network/trafficManagerProfiles/externalEndpoints"))
        e = c.endpoints.update(RG, "berth-tm", "ExternalEndpoints", "aci-westus", tmm.Endpoint(weight=10))
        self.assertEqual((e.weight, e.target), (10, "berth-web.westus.azurecontainer.io"))
        e = c.endpoints.get(RG, "berth-tm", "ExternalEndpoints", "aci-westus")
        self.assertEqual(e.weight, 10)
        az = c.endpoints.create_or_update(RG, "berth-tm", "AzureEndpoints", "pip", tmm.Endpoint(
            target_resource_id="/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/publicIPAddresses/pip"
            % (SUB, RG), weight=5))
        self.assertEqual((az.type, az.weight), ("Microsoft.Network/trafficManagerProfiles/azureEndpoints", 5))
        c.endpoints.delete(RG, "berth-tm", "AzureEndpoints", "pip")
        p = c.profiles.get(RG, "berth-tm")
        self.assertEqual([x.name for x in p.endpoints], ["aci-westus"])
        # the target is a (simulated) container group FQDN: probed every 30 s, none done yet
        self.assertEqual(p.monitor_config.profile_monitor_status, "CheckingEndpoints")
        self.assertEqual(p.endpoints[0].endpoint_monitor_status, "CheckingEndpoint")
        p = c.profiles.update(RG, "berth-tm", tmm.Profile(tags={"berth.owner": "demo", "x": "y"}))
        self.assertEqual(p.tags, {"berth.owner": "demo", "x": "y"})
        self.assertEqual([x.name for x in c.profiles.list_by_resource_group(RG)], ["berth-tm"])
        with self.assertRaises(HttpResponseError) as err:
            c.endpoints.update(RG, "berth-tm", "ExternalEndpoints", "aci-westus", tmm.Endpoint(weight=0))
        self.assertEqual((err.exception.status_code, err.exception.error.code), (400, "BadRequest"))
        c.endpoints.delete(RG, "berth-tm", "ExternalEndpoints", "aci-westus")
        c.endpoints.delete(RG, "berth-tm", "ExternalEndpoints", "aci-westus")
        self.assertEqual([r[2] for r in RECORDED if r[0] == "DELETE"], [200, 200, 204])
        c.profiles.delete(RG, "berth-tm")
        with self.assertRaises(ResourceNotFoundError):
            c.profiles.get(RG, "berth-tm")


class SdkFileShares(SimTest):
    def _run(self, version):
        c = sdk(StorageManagementClient, version)
        s = c.file_shares.create(RG, ACCOUNT, "berth-data", sm.FileShare(share_quota=100))
        self.assertEqual((RECORDED[-1][2], s.share_quota), (201, 100))
        s = c.file_shares.get(RG, ACCOUNT, "berth-data")
        self.assertTrue(s.etag.startswith('"0x'))
        self.assertEqual((s.share_quota, s.enabled_protocols, s.lease_status), (100, "SMB", "unlocked"))
        s2 = c.file_shares.update(RG, ACCOUNT, "berth-data", sm.FileShare(share_quota=200))
        self.assertEqual(s2.share_quota, 200)
        self.assertNotEqual(s2.etag, s.etag)
        c.file_shares.create(RG, ACCOUNT, "berth-data", sm.FileShare(share_quota=200))
        self.assertEqual(RECORDED[-1][2], 200)
        for n in ("a-share", "b-share", "c-share"):
            c.file_shares.create(RG, ACCOUNT, n, sm.FileShare())
        names = [x.name for x in c.file_shares.list(RG, ACCOUNT, maxpagesize="2")]
        self.assertEqual(names, ["berth-data", "a-share", "b-share", "c-share"])
        self.assertEqual(len([r for r in RECORDED if r[1].lower().split("?")[0].endswith("/shares")]), 2)
        keys = c.storage_accounts.list_keys(RG, ACCOUNT).keys
        self.assertEqual([(k.key_name, k.value, k.permissions) for k in keys],
                         [("key1", KEY1, "Full"), ("key2", KEY2, "Full")])
        c.file_shares.delete(RG, ACCOUNT, "berth-data")
        c.file_shares.delete(RG, ACCOUNT, "berth-data")
        self.assertEqual([r[2] for r in RECORDED if r[0] == "DELETE"], [200, 204])
        with self.assertRaises(HttpResponseError) as e:
            c.file_shares.create(RG, ACCOUNT, "too-big", sm.FileShare(share_quota=5121))
        self.assertEqual(e.exception.status_code, 400)


class SdkScaleSets(SimTest):
    def _run(self, version):
        c = sdk(ComputeManagementClient, version)
        v = c.virtual_machine_scale_sets.get(RG, VMSS)
        self.assertEqual((v.sku.capacity, v.sku.name, v.provisioning_state), (2, "Standard_D2s_v3", "Succeeded"))
        self.assertEqual(RECORDED[-1][3]["etag"], '"1"')
        vms = list(c.virtual_machine_scale_set_vms.list(RG, VMSS))
        self.assertEqual([(m.instance_id, m.name, m.os_profile.computer_name) for m in vms],
                         [("0", VMSS + "_0", VMSS + "000000"), ("1", VMSS + "_1", VMSS + "000001")])
        v = c.virtual_machine_scale_sets.begin_update(
            RG, VMSS, cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(capacity=4))).result()
        self.assertEqual((v.sku.capacity, v.provisioning_state), (4, "Succeeded"))
        patch = [r for r in RECORDED if r[0] == "PATCH"][0]
        self.assertEqual((patch[2], patch[3]["properties"]["provisioningState"]), (200, "Updating"))
        vms = list(c.virtual_machine_scale_set_vms.list(RG, VMSS))
        self.assertEqual([m.instance_id for m in vms], ["0", "1", "2", "3"])
        self.assertEqual({m.provisioning_state for m in vms}, {"Succeeded"})
        c.virtual_machine_scale_sets.begin_update(
            RG, VMSS, cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(capacity=1))).result()
        self.assertEqual([m.instance_id for m in c.virtual_machine_scale_set_vms.list(RG, VMSS)], ["0"])
        c.virtual_machine_scale_sets.begin_update(
            RG, VMSS, cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(capacity=2))).result()
        # instance ids are never reused
        self.assertEqual([m.instance_id for m in c.virtual_machine_scale_set_vms.list(RG, VMSS)], ["0", "4"])
        with self.assertRaises(ResourceNotFoundError) as e:
            c.virtual_machine_scale_sets.get(RG, "missing")
        self.assertEqual(e.exception.error.code, "ResourceNotFound")


class ScaleSetInstances(SimTest):
    """Instances deleted by id (VirtualMachineScaleSets_DeleteInstances, an LRO), protection from
    scale-in, and the instance hook the multi-node tests back instances with."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp()
        self.calls = os.path.join(self.tmp, "calls")
        hook = os.path.join(self.tmp, "hook.sh")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\necho "$@" >>%s\n[ "$3" != "%s" ]\n' % (self.calls, "hooked00000z"))
        os.chmod(hook, 0o755)
        ctl("config", {"instance_hook": hook})
        ctl("seed", {"scale_sets": [{"subscription": SUB, "resource_group": RG, "name": "hooked",
                                     "location": "westus", "capacity": 4, "protect_from_scale_in": ["1"]}]})

    def tearDown(self):
        ctl("config", {"instance_hook": None})
        shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def hook_calls(self):
        with open(self.calls) as f:
            return [tuple(l.split()) for l in f.read().splitlines()]

    def test_seed_runs_the_create_hook_per_instance(self):
        self.assertEqual(self.hook_calls(), [("create", "hooked", "hooked00000%d" % i) for i in range(4)])

    def test_delete_instances_is_a_long_running_operation_that_runs_the_hook(self):
        c = sdk(ComputeManagementClient, "2024-11-01")
        ids = cm.VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=["1", "2"])
        c.virtual_machine_scale_sets.begin_delete_instances(RG, "hooked", ids, polling=False).result()
        post = [r for r in RECORDED if r[0] == "POST"]
        self.assertEqual([(urllib.parse.urlsplit(r[1]).path.rsplit("/", 1)[1], r[2]) for r in post], [("delete", 202)])
        self.assertEqual(len(self.hook_calls()), 4)  # nothing deleted before the operation completes
        states = {m.instance_id: m.provisioning_state for m in c.virtual_machine_scale_set_vms.list(RG, "hooked")}
        self.assertEqual(states, {"0": "Succeeded", "1": "Deleting", "2": "Deleting", "3": "Succeeded"})
        # the list was poll 1 of 2; the SDK's poller follows a second delete to the end
        self.assertEqual([m.instance_id for m in c.virtual_machine_scale_set_vms.list(RG, "hooked")], ["0", "3"])
        self.assertEqual(self.hook_calls()[4:], [("delete", "hooked", "hooked000001"), ("delete", "hooked", "hooked000002")])
        poller = c.virtual_machine_scale_sets.begin_delete_instances(
            RG, "hooked", cm.VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=["3"]))
        poller.result()
        self.assertEqual(poller.status(), "Succeeded")
        self.assertEqual([m.instance_id for m in c.virtual_machine_scale_set_vms.list(RG, "hooked")], ["0"])
        self.assertEqual(c.virtual_machine_scale_sets.get(RG, "hooked").sku.capacity, 1)
        self.assertEqual(self.hook_calls()[6:], [("delete", "hooked", "hooked000003")])
        sent = [e for e in ctl("log") if e["method"] == "POST" and e["path"].endswith("/delete")]
        self.assertEqual([e["query"].get("api-version") for e in sent], ["2024-11-01"] * 2)

    def test_protection_is_shown_and_a_capacity_decrease_skips_it(self):
        c = sdk(ComputeManagementClient, "2024-11-01")
        vms = {m.instance_id: m for m in c.virtual_machine_scale_set_vms.list(RG, "hooked")}
        self.assertTrue(vms["1"].protection_policy.protect_from_scale_in)
        self.assertIsNone(vms["0"].protection_policy)
        c.virtual_machine_scale_sets.begin_update(
            RG, "hooked", cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(capacity=1))).result()
        self.assertEqual([m.instance_id for m in c.virtual_machine_scale_set_vms.list(RG, "hooked")], ["1"])
        self.assertEqual([x[2] for x in self.hook_calls()[4:]], ["hooked000003", "hooked000002", "hooked000000"])

    def test_growth_runs_the_create_hook_and_a_failed_hook_fails_the_instance(self):
        c = sdk(ComputeManagementClient, "2024-11-01")
        # instance 35 is hooked00000z, whose create hook fails
        ctl("seed", {"scale_sets": [{"subscription": SUB, "resource_group": RG, "name": "hooked",
                                     "location": "westus", "capacity": 35}]})
        c.virtual_machine_scale_sets.begin_update(
            RG, "hooked", cm.VirtualMachineScaleSetUpdate(sku=cm.Sku(capacity=36))).result()
        vms = {m.instance_id: m for m in c.virtual_machine_scale_set_vms.list(RG, "hooked")}
        self.assertEqual((vms["35"].os_profile.computer_name, vms["35"].provisioning_state), ("hooked00000z", "Failed"))
        self.assertEqual(vms["34"].provisioning_state, "Succeeded")

    def test_delete_of_an_unknown_or_no_instance_is_400(self):
        path = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/hooked/delete" % (
            SUB, RG)
        for body in ({"instanceIds": ["9"]}, {"instanceIds": []}, {}):
            self.assertArmError(arm("POST", path, body, api_version="2024-11-01"), 400, "InvalidParameter")
        self.assertEqual(len(self.hook_calls()), 4)


def _make(cls, area):
    """One test per api-version: the SDK package's own version (no rewriting), then berth's."""
    def run(self, v):
        self._run(v)
        sent = {e["query"].get("api-version") for e in ctl("log")
                if e["path"].lower().startswith("/subscriptions/") and area_of(e["path"]) == area}
        self.assertEqual(sent, {v})
    for i, v in enumerate(VERSIONS[area]):
        name = "test_sdk_api_version_" + v.replace("-", "_")
        setattr(cls, name, lambda self, v=v: run(self, v))


def area_of(path):
    p = path.lower()
    return ("aci" if "microsoft.containerinstance" in p else "tm" if "microsoft.network" in p else
            "storage" if "microsoft.storage" in p else "compute" if "microsoft.compute" in p else "resources")


_make(SdkResourceGroups, "resources")
_make(SdkContainerGroups, "aci")
_make(SdkTrafficManager, "tm")
_make(SdkFileShares, "storage")
_make(SdkScaleSets, "compute")


# ---------------------------------------------------------------------------------- (c) behaviour

class TokenEndpoint(SimTest):
    def token(self, **form):
        base = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET, "scope": SCOPE}
        base.update(form)
        return http("POST", "/%s/oauth2/v2.0/token" % TENANT, form={k: v for k, v in base.items() if v is not None},
                    validate=False)

    def test_client_secret_grant_returns_bearer_token(self):
        r = self.token()
        self.assertEqual(r.status, 200)
        self.assertEqual(sorted(r.json), ["access_token", "expires_in", "ext_expires_in", "token_type"])
        self.assertEqual((r.json["token_type"], r.json["expires_in"], r.json["ext_expires_in"]), ("Bearer", 3599, 3599))

    def test_wrong_secret_is_invalid_client_7000215(self):
        r = self.token(client_secret="nope")
        self.assertEqual(r.status, 401)
        self.assertEqual((r.json["error"], r.json["error_codes"]), ("invalid_client", [7000215]))
        self.assertTrue(r.json["error_description"].startswith("AADSTS7000215: "))

    def test_unknown_client_is_invalid_client(self):
        r = self.token(client_id="99999999-0000-0000-0000-000000000000")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json["error"], "invalid_client")

    def test_scope_without_default_suffix_is_aadsts1002012(self):
        r = self.token(scope="https://management.azure.com/user_impersonation")
        self.assertEqual(r.status, 400)
        self.assertEqual((r.json["error"], r.json["error_codes"]), ("invalid_scope", [1002012]))

    def test_federated_assertion_grant(self):
        r = self.token(client_id=FED_CLIENT, client_secret=None,
                       client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                       client_assertion=FED_TOKEN)
        self.assertEqual(r.status, 200, r.raw)
        a = arm("GET", "/subscriptions/%s/resourceGroups/%s" % (SUB, RG), token=r.json["access_token"],
                api_version="2021-04-01")
        self.assertEqual(a.status, 200)

    def test_wrong_federated_assertion_is_invalid_client(self):
        r = self.token(client_id=FED_CLIENT, client_secret=None,
                       client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                       client_assertion="eyJ.other.token")
        self.assertEqual((r.status, r.json["error"]), (401, "invalid_client"))

    def test_token_lifetime_is_configurable(self):
        ctl("config", {"token_lifetime": 120})
        self.assertEqual(self.token().json["expires_in"], 120)

    def test_log_redacts_client_secret(self):
        self.token()
        entry = [e for e in ctl("log") if e["path"].endswith("/token")][-1]
        self.assertEqual(entry["body"]["client_secret"], "***")
        self.assertNotIn(SECRET, json.dumps(ctl("log")))


class Imds(SimTest):
    URL = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"

    def test_missing_metadata_header_is_400(self):
        ctl("credentials", {"msi": True})
        r = http("GET", self.URL, validate=False)
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_request"))

    def test_token_shape_has_numbers_as_strings_and_works_on_arm(self):
        ctl("credentials", {"msi": True})
        r = http("GET", self.URL, headers={"Metadata": "true"}, validate=False)
        self.assertEqual(r.status, 200, r.raw)
        self.assertEqual(sorted(r.json), ["access_token", "client_id", "expires_in", "expires_on", "ext_expires_in",
                                          "not_before", "resource", "token_type"])
        for k in ("expires_in", "expires_on", "ext_expires_in", "not_before"):
            self.assertIsInstance(r.json[k], str)
            int(r.json[k])
        self.assertEqual((r.json["resource"], r.json["token_type"]), ("https://management.azure.com/", "Bearer"))
        a = arm("GET", "/subscriptions/%s/resourceGroups/%s" % (SUB, RG), token=r.json["access_token"],
                api_version="2021-04-01")
        self.assertEqual(a.status, 200)

    def test_no_identity_is_400(self):
        r = http("GET", self.URL, headers={"Metadata": "true"}, validate=False)
        self.assertEqual(r.status, 400)

    def test_user_assigned_identity_only_for_its_client_id(self):
        uid = "abcdefab-0000-0000-0000-000000000001"
        ctl("credentials", {"msi": True, "client_id": uid})
        ok = http("GET", self.URL + "&client_id=" + uid, headers={"Metadata": "true"}, validate=False)
        self.assertEqual((ok.status, ok.json["client_id"]), (200, uid))
        bad = http("GET", self.URL + "&client_id=abcdefab-0000-0000-0000-000000000002",
                   headers={"Metadata": "true"}, validate=False)
        self.assertEqual(bad.status, 400)

    def test_token_for_another_audience_is_rejected_by_arm(self):
        ctl("credentials", {"msi": True})
        r = http("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F",
                 headers={"Metadata": "true"}, validate=False)
        a = arm("GET", "/subscriptions/%s/resourceGroups/%s" % (SUB, RG), token=r.json["access_token"],
                api_version="2021-04-01")
        self.assertArmError(a, 401, "InvalidAuthenticationToken")


class Auth(SimTest):
    P = "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01" % (SUB, RG)

    def test_no_authorization_header_is_401(self):
        r = http("GET", self.P)
        self.assertArmError(r, 401, "AuthenticationFailed")
        self.assertIn("Bearer", r.headers["WWW-Authenticate"])

    def test_unknown_token_is_401_invalid_authentication_token(self):
        r = http("GET", self.P, headers={"Authorization": "Bearer not-a-token"})
        self.assertArmError(r, 401, "InvalidAuthenticationToken")

    def test_expired_token_is_401_expired_authentication_token(self):
        ctl("config", {"token_lifetime": 0})
        tok = get_token()
        r = http("GET", self.P, headers={"Authorization": "Bearer " + tok})
        self.assertArmError(r, 401, "ExpiredAuthenticationToken")

    def test_missing_api_version_is_400(self):
        r = arm("GET", "/subscriptions/%s/resourceGroups/%s" % (SUB, RG))
        self.assertArmError(r, 400, "MissingApiVersionParameter")

    def test_unsupported_api_version_lists_supported_ones(self):
        r = arm("GET", rgpath("Microsoft.ContainerInstance/containerGroups"), api_version="2019-12-01")
        self.assertArmError(r, 400, "InvalidApiVersionParameter")
        self.assertIn("2023-05-01", r.json["error"]["message"])
        self.assertIn("2026-05-01", r.json["error"]["message"])

    def test_paths_are_case_insensitive(self):
        r = arm("GET", ("/SUBSCRIPTIONS/%s/resourcegroups/%s/PROVIDERS/microsoft.compute/"
                        "VIRTUALMACHINESCALESETS/%s") % (SUB, RG.upper(), VMSS.upper()), api_version="2024-11-01")
        self.assertEqual((r.status, r.json["name"]), (200, VMSS))

    def test_arm_headers_and_correlation_id_echo(self):
        r = arm("GET", self.P.split("?")[0], api_version="2021-04-01", headers={"x-ms-correlation-request-id": "corr-1"})
        self.assertEqual(r.headers["x-ms-correlation-request-id"], "corr-1")
        self.assertTrue(r.headers["x-ms-request-id"])
        self.assertTrue(int(r.headers["x-ms-ratelimit-remaining-subscription-reads"]) > 0)
        w = arm("PUT", "/subscriptions/%s/resourceGroups/x2" % SUB, {"location": "westus"}, api_version="2021-04-01")
        self.assertEqual(w.status, 201)
        self.assertTrue(int(w.headers["x-ms-ratelimit-remaining-subscription-writes"]) > 0)
        self.assertEqual(ctl("log")[-1]["correlation_request_id"], w.headers["x-ms-correlation-request-id"])


class Faults(SimTest):
    VM = rgpath("Microsoft.Compute/virtualMachineScaleSets/" + VMSS)

    def test_429_with_retry_after_from_fault_rule(self):
        ctl("faults", {"rules": [{"method": "GET", "path_regex": "virtualMachineScaleSets", "action": "status",
                                  "status": 429, "retry_after": 7}]})
        tok = get_token()
        r = arm("GET", self.VM, token=tok, api_version="2024-11-01")
        self.assertEqual((r.status, r.headers["Retry-After"]), (429, "7"))
        self.assertTrue(r.json["error"]["code"])
        self.assertEqual(arm("GET", self.VM, token=tok, api_version="2024-11-01").status, 200)   # times: 1

    def test_sdk_retries_after_429(self):
        ctl("faults", {"rules": [{"path_regex": "(?i)virtualmachinescalesets/", "action": "status", "status": 429,
                                  "retry_after": 1, "code": "SubscriptionRequestsThrottled"}]})
        t = time.time()
        v = sdk(ComputeManagementClient).virtual_machine_scale_sets.get(RG, VMSS)
        self.assertEqual(v.name, VMSS)
        self.assertGreaterEqual(time.time() - t, 0.9)
        self.assertEqual([r[2] for r in RECORDED], [429, 200])

    def test_dropped_connection_gets_no_response(self):
        ctl("faults", {"rules": [{"action": "drop", "path_regex": "virtualMachineScaleSets"}]})
        tok = get_token()
        u = urllib.parse.urlsplit(SIM)
        conn = HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("GET", self.VM + "?api-version=2024-11-01", headers={"Authorization": "Bearer " + tok})
        with self.assertRaises((RemoteDisconnected, ConnectionError, socket.error)):
            conn.getresponse()
        conn.close()
        self.assertEqual(arm("GET", self.VM, token=tok, api_version="2024-11-01").status, 200)
        self.assertIsNone([e for e in ctl("log") if e["method"] == "GET"][0]["status"])

    def test_sdk_recovers_from_dropped_connection(self):
        ctl("faults", {"rules": [{"action": "drop", "path_regex": "(?i)virtualmachinescalesets/"}]})
        self.assertEqual(sdk(ComputeManagementClient).virtual_machine_scale_sets.get(RG, VMSS).name, VMSS)

    def test_delay(self):
        ctl("faults", {"rules": [{"action": "delay", "ms": 400}]})
        t = time.time()
        get_token()
        self.assertGreaterEqual(time.time() - t, 0.35)

    def test_failed_provisioning_ends_failed_with_the_error(self):
        ctl("faults", {"rules": [{"action": "fail_provisioning", "method": "PUT", "path_regex": "containerGroups",
                                  "code": "InaccessibleImage", "message": "The image 'nope' is not accessible."}]})
        c = sdk(ContainerInstanceManagementClient)
        with self.assertRaises(HttpResponseError) as e:
            c.container_groups.begin_create_or_update(RG, "bad", aci_group("bad-lbl")).result()
        self.assertIn("InaccessibleImage", str(e.exception))
        final = [r for r in RECORDED if "/operations/" in r[1]][-1][3]
        self.assertEqual(final["status"], "Failed")
        self.assertEqual(final["error"], {"code": "InaccessibleImage", "message": "The image 'nope' is not accessible."})
        self.assertEqual(c.container_groups.get(RG, "bad").provisioning_state, "Failed")

    def test_failed_scale_ends_failed(self):
        ctl("faults", {"rules": [{"action": "fail_provisioning", "method": "PATCH", "code": "AllocationFailed",
                                  "message": "Allocation failed."}]})
        r = arm("PATCH", self.VM, {"sku": {"capacity": 3}}, api_version="2024-11-01")
        self.assertEqual(r.status, 200)
        tok = get_token()
        st = [http("GET", r.headers["Azure-AsyncOperation"], headers={"Authorization": "Bearer " + tok}).json
              for _ in range(2)]
        self.assertEqual([s["status"] for s in st], ["InProgress", "Failed"])
        self.assertEqual(st[1]["error"]["code"], "AllocationFailed")
        loc = http("GET", r.headers["Location"], headers={"Authorization": "Bearer " + tok})
        self.assertArmError(loc, 400, "AllocationFailed")


class Lro(SimTest):
    def test_location_polling_202_then_final_resource(self):
        r = arm("PUT", rgpath("Microsoft.ContainerInstance/containerGroups/loc1"),
                aci_group("loc1").serialize(), api_version="2026-05-01")
        self.assertEqual((r.status, r.json["properties"]["provisioningState"]), (201, "Pending"))
        self.assertIn("Azure-AsyncOperation", r.headers)
        tok = get_token()
        first = http("GET", r.headers["Location"], headers={"Authorization": "Bearer " + tok})
        self.assertEqual(first.status, 202)
        self.assertEqual(ctl("state")["container_groups"][0]["properties"]["provisioningState"], "Creating")
        self.assertEqual(arm("GET", rgpath("Microsoft.ContainerInstance/containerGroups/loc1"), token=tok,
                             api_version="2026-05-01").json["properties"]["provisioningState"], "Succeeded")
        done = http("GET", r.headers["Location"], headers={"Authorization": "Bearer " + tok})
        self.assertEqual((done.status, done.json["name"]), (200, "loc1"))

    def test_lro_polls_is_configurable(self):
        ctl("config", {"lro_polls": 4})
        r = arm("PATCH", rgpath("Microsoft.Compute/virtualMachineScaleSets/" + VMSS), {"sku": {"capacity": 3}},
                api_version="2024-11-01")
        tok = get_token()
        st = [http("GET", r.headers["Azure-AsyncOperation"], headers={"Authorization": "Bearer " + tok}).json["status"]
              for _ in range(4)]
        self.assertEqual(st, ["InProgress"] * 3 + ["Succeeded"])

    def test_delete_of_a_missing_group_is_204(self):
        r = arm("DELETE", rgpath("Microsoft.ContainerInstance/containerGroups/none"), api_version="2026-05-01")
        self.assertEqual(r.status, 204)

    def test_put_in_a_missing_resource_group_is_404(self):
        r = arm("PUT", "/subscriptions/%s/resourceGroups/nope/providers/Microsoft.ContainerInstance/containerGroups/x"
                % SUB, aci_group("x").serialize(), api_version="2026-05-01")
        self.assertArmError(r, 404, "ResourceGroupNotFound")

    def test_changing_cpu_needs_delete_first(self):
        ctl("config", {"lro_polls": 0})
        p = rgpath("Microsoft.ContainerInstance/containerGroups/cpu1")
        self.assertEqual(arm("PUT", p, aci_group("cpu1").serialize(), api_version="2026-05-01").status, 201)
        r = arm("PUT", p, aci_group("cpu1", cpu=2.0).serialize(), api_version="2026-05-01")
        self.assertArmError(r, 409, "InvalidContainerGroupUpdate")


class Paging(SimTest):
    def test_container_groups_list_follows_next_link(self):
        ctl("config", {"page_size": 2, "lro_polls": 0})
        tok = get_token()
        for i in range(5):
            arm("PUT", rgpath("Microsoft.ContainerInstance/containerGroups/g%d" % i),
                aci_group("g%d" % i).serialize(), token=tok, api_version="2026-05-01")
        url = SIM + rgpath("Microsoft.ContainerInstance/containerGroups") + "?api-version=2026-05-01"
        names, pages = [], 0
        while url:
            r = http("GET", url, headers={"Authorization": "Bearer " + tok})
            self.assertEqual(r.status, 200)
            pages += 1
            names += [g["name"] for g in r.json["value"]]
            self.assertTrue(all("instanceView" not in g["properties"] for g in r.json["value"]))
            url = r.json.get("nextLink")
            if url:
                self.assertIn("api-version=2026-05-01", url)
        self.assertEqual((names, pages), (["g0", "g1", "g2", "g3", "g4"], 3))
        sdk_names = [g.name for g in sdk(ContainerInstanceManagementClient).container_groups.list_by_resource_group(RG)]
        self.assertEqual(sdk_names, names)

    def test_vm_list_pages(self):
        ctl("config", {"page_size": 1})
        vms = list(sdk(ComputeManagementClient).virtual_machine_scale_set_vms.list(RG, VMSS))
        self.assertEqual(len(vms), 2)
        self.assertEqual(len([r for r in RECORDED if "virtualMachines" in r[1]]), 2)


class ETags(SimTest):
    VM = rgpath("Microsoft.Compute/virtualMachineScaleSets/" + VMSS)

    def test_vmss_if_match_mismatch_is_412(self):
        tok = get_token()
        g = arm("GET", self.VM, token=tok, api_version="2024-11-01")
        self.assertEqual(g.headers["ETag"], '"1"')
        self.assertEqual(g.json["etag"], '"1"')
        r = arm("PATCH", self.VM, {"sku": {"capacity": 5}}, token=tok, api_version="2024-11-01",
                headers={"If-Match": '"0"'})
        self.assertArmError(r, 412, "PreconditionFailed")
        ok = arm("PATCH", self.VM, {"sku": {"capacity": 5}}, token=tok, api_version="2024-11-01",
                 headers={"If-Match": '"1"'})
        self.assertEqual((ok.status, ok.headers["ETag"]), (200, '"2"'))

    def test_share_etag_header_matches_body_and_changes(self):
        p = rgpath("Microsoft.Storage/storageAccounts/%s/fileServices/default/shares/share-one" % ACCOUNT)
        tok = get_token()
        put = arm("PUT", p, {"properties": {"shareQuota": 10}}, token=tok, api_version="2025-06-01")
        self.assertEqual(put.status, 201)
        get = arm("GET", p, token=tok, api_version="2025-06-01")
        self.assertEqual(get.json["etag"], put.headers["ETag"])
        upd = arm("PATCH", p, {"properties": {"shareQuota": 20}}, token=tok, api_version="2025-06-01")
        self.assertNotEqual(upd.headers["ETag"], put.headers["ETag"])


class Validation(SimTest):
    def test_tm_weight_out_of_range_is_400(self):
        tok = get_token()
        p = rgpath("Microsoft.Network/trafficmanagerprofiles/w")
        r = arm("PUT", p, {"location": "global", "properties": {"trafficRoutingMethod": "Weighted",
                                                                 "dnsConfig": {"relativeName": "w-berth"},
                                                                 "monitorConfig": {"protocol": "HTTP", "port": 80}}},
                token=tok, api_version="2026-09-01")
        self.assertEqual(r.status, 201)
        for w in (0, 1001):
            e = arm("PUT", p + "/ExternalEndpoints/e", {"properties": {"target": "x.example.com", "weight": w}},
                    token=tok, api_version="2026-09-01")
            self.assertArmError(e, 400, "BadRequest")
        e = arm("PUT", p + "/externalEndpoints/e", {"properties": {"target": "x.example.com", "weight": 1000}},
                token=tok, api_version="2026-09-01")
        self.assertEqual(e.status, 201)
        again = arm("PUT", p + "/externalEndpoints/e", {"properties": {"target": "x.example.com", "weight": 5}},
                    token=tok, api_version="2026-09-01")
        self.assertEqual(again.status, 201)       # recorded: 201 even when replacing

    def test_share_quota_limits(self):
        tok = get_token()
        base = rgpath("Microsoft.Storage/storageAccounts/%s/fileServices/default/shares/" % ACCOUNT)
        for q in (0, 5121):
            self.assertArmError(arm("PUT", base + "qq1", {"properties": {"shareQuota": q}}, token=tok,
                                    api_version="2025-06-01"), 400, "InvalidParameter")
        ctl("seed", {"storage_accounts": [{"subscription": SUB, "resource_group": RG, "name": "bigsa",
                                           "keys": ["k"], "large_file_shares": True}]})
        big = rgpath("Microsoft.Storage/storageAccounts/bigsa/fileServices/default/shares/qq1")
        self.assertEqual(arm("PUT", big, {"properties": {"shareQuota": 102400}}, token=tok,
                             api_version="2025-06-01").status, 201)

    def test_list_keys_of_unseeded_account_is_404(self):
        r = arm("POST", rgpath("Microsoft.Storage/storageAccounts/other/listKeys"), api_version="2025-06-01")
        self.assertArmError(r, 404, "ResourceNotFound")

    def test_computer_name_is_prefix_plus_base36_instance_id(self):
        ctl("seed", {"scale_sets": [{"subscription": SUB, "resource_group": RG, "name": "big", "capacity": 37}]})
        r = arm("GET", rgpath("Microsoft.Compute/virtualMachineScaleSets/big/virtualMachines"), api_version="2024-11-01")
        last = r.json["value"][-1]
        self.assertEqual((last["instanceId"], last["properties"]["osProfile"]["computerName"]), ("36", "big000010"))


class Secrets(SimTest):
    def test_secrets_never_returned_and_redacted_in_log(self):
        ctl("config", {"lro_polls": 1})
        c = sdk(ContainerInstanceManagementClient)
        c.container_groups.begin_create_or_update(RG, "sec", aci_group("sec")).result()
        c.container_groups.get(RG, "sec")
        list(c.container_groups.list_by_resource_group(RG))
        bodies = json.dumps([r[3] for r in RECORDED])
        self.assertNotIn("hunter2-secure", bodies)
        self.assertNotIn(KEY1, bodies)
        self.assertNotIn("secureValue", bodies)
        self.assertNotIn("storageAccountKey", bodies)
        log = ctl("log")
        put = [e for e in log if e["method"] == "PUT"][0]
        self.assertEqual(put["body"]["properties"]["containers"][0]["properties"]["environmentVariables"][1]["secureValue"], "***")
        self.assertEqual(put["body"]["properties"]["volumes"][0]["azureFile"]["storageAccountKey"], "***")
        self.assertNotIn("hunter2-secure", json.dumps(log))
        self.assertNotIn(KEY1, json.dumps(log))
        self.assertNotIn(SECRET, json.dumps(log))
        self.assertTrue(put["client_request_id"])

    def test_state_keeps_what_the_client_sent(self):
        ctl("config", {"lro_polls": 0})
        arm("PUT", rgpath("Microsoft.ContainerInstance/containerGroups/st1"), aci_group("st1").serialize(),
            api_version="2026-05-01")
        cg = ctl("state")["container_groups"][0]
        self.assertEqual(cg["properties"]["provisioningState"], "Succeeded")
        self.assertEqual(cg["stored"]["properties"]["volumes"][0]["azureFile"]["storageAccountKey"], KEY1)


# ------------------------------------------------------ Traffic Manager monitoring, health faults

def wait_for(fn, timeout=15.0, what="the condition"):
    """Polls fn() until it returns something true (then returns it) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))
        time.sleep(0.01)


def probe(host, path="/", method="GET"):
    """One request to the simulator's probe server with this Host header: (status, body)."""
    conn = HTTPConnection("127.0.0.1", ctl("state")["probe_port"], timeout=10)
    try:
        conn.request(method, path, headers={"Host": host})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def fqdn(label):
    return "%s.westus.azurecontainer.io" % label


class Monitoring(SimTest):
    SCALE = 100          # a 30 s monitor interval passes in 0.3 s

    def setUp(self):
        super().setUp()
        ctl("config", {"time_scale": self.SCALE})
        self.aci = sdk(ContainerInstanceManagementClient)
        self.tm = sdk(TrafficManagerManagementClient)

    def group(self, name, label=None, restart_policy="Always"):
        g = aci_group(label or name)
        g.restart_policy = restart_policy
        return self.aci.container_groups.begin_create_or_update(RG, name, g).result()

    def profile(self, name="berth-roll", interval=30, tolerated=3, status="Enabled"):
        return self.tm.profiles.create_or_update(RG, name, tmm.Profile(
            location="global", profile_status=status, traffic_routing_method="Weighted",
            dns_config=tmm.DnsConfig(relative_name=name + "-dns", ttl=30),
            monitor_config=tmm.MonitorConfig(protocol="HTTP", port=80, path="/", interval_in_seconds=interval,
                                             tolerated_number_of_failures=tolerated)))

    def endpoint(self, name, target, weight=100, profile="berth-roll", **kw):
        return self.tm.endpoints.create_or_update(RG, profile, "ExternalEndpoints", name, tmm.Endpoint(
            target=target, endpoint_status=kw.pop("endpoint_status", "Enabled"), weight=weight, **kw))

    def status(self, name, profile="berth-roll"):
        return self.tm.endpoints.get(RG, profile, "ExternalEndpoints", name).endpoint_monitor_status

    def wait_status(self, name, want, profile="berth-roll", timeout=15.0):
        seen = []

        def check():
            st = self.status(name, profile)
            if not seen or seen[-1] != st:
                seen.append(st)
            return st == want
        wait_for(check, timeout, "endpoint %s to be %s" % (name, want))
        return seen


class TrafficManagerMonitoring(Monitoring):
    def test_checking_then_online_then_degraded_after_the_detection_time_and_back(self):
        self.group("web-8be04d1")
        p = self.profile()
        self.assertEqual(p.monitor_config.profile_monitor_status, "Inactive")
        e = self.endpoint("rev-8be04d1", fqdn("web-8be04d1"))
        self.assertEqual(e.endpoint_monitor_status, "CheckingEndpoint")        # the PUT answer
        self.assertEqual(self.status("rev-8be04d1"), "CheckingEndpoint")       # 30 s not yet passed
        self.assertEqual(self.tm.profiles.get(RG, "berth-roll").monitor_config.profile_monitor_status,
                         "CheckingEndpoints")
        self.assertEqual(self.wait_status("rev-8be04d1", "Online"), ["CheckingEndpoint", "Online"])
        p = self.tm.profiles.get(RG, "berth-roll")
        self.assertEqual((p.monitor_config.profile_monitor_status, p.endpoints[0].endpoint_monitor_status),
                         (tmm.ProfileMonitorStatus.ONLINE, tmm.EndpointMonitorStatus.ONLINE))
        # The revision turns unhealthy: Degraded once toleratedNumberOfFailures+1 (4) probes in a
        # row failed, i.e. between 3 and 4 intervals (0.9 s .. 1.2 s here) later, never sooner.
        t0 = time.monotonic()
        ctl("faults", {"rules": [{"action": "probe_fails", "group": "web-8be04d1"}]})
        self.assertEqual(self.wait_status("rev-8be04d1", "Degraded"), ["Online", "Degraded"])
        self.assertGreaterEqual(time.monotonic() - t0, 3 * 30 / self.SCALE)
        e = self.tm.endpoints.get(RG, "berth-roll", "ExternalEndpoints", "rev-8be04d1")
        # an extensible (modelAsString) enum: the SDK keeps the string, equal to the enum member
        self.assertEqual(e.endpoint_monitor_status, tmm.EndpointMonitorStatus.DEGRADED)
        self.assertIn(e.endpoint_monitor_status, [m.value for m in tmm.EndpointMonitorStatus])
        p = self.tm.profiles.get(RG, "berth-roll")
        self.assertEqual(p.monitor_config.profile_monitor_status, tmm.ProfileMonitorStatus.DEGRADED)
        self.assertEqual([x.endpoints[0].endpoint_monitor_status for x in self.tm.profiles.list_by_resource_group(RG)],
                         ["Degraded"])
        # healthy again: Online at the next successful probe
        http("DELETE", "/_sim/faults", validate=False)
        self.wait_status("rev-8be04d1", "Online")

    def test_profile_is_degraded_when_any_endpoint_is(self):
        self.group("web-stable")
        self.group("web-canary")
        self.profile(tolerated=0)
        self.endpoint("stable", fqdn("web-stable"), weight=900)
        self.endpoint("canary", fqdn("web-canary"), weight=100)
        self.wait_status("stable", "Online")
        self.wait_status("canary", "Online")
        ctl("faults", {"rules": [{"action": "probe_fails", "group_regex": "^web-(?!stable$)"}]})
        self.wait_status("canary", "Degraded")
        p = self.tm.profiles.get(RG, "berth-roll")
        self.assertEqual({e.name: e.endpoint_monitor_status for e in p.endpoints},
                         {"stable": "Online", "canary": "Degraded"})
        self.assertEqual(p.monitor_config.profile_monitor_status, "Degraded")

    def test_a_target_without_a_group_is_never_online(self):
        self.profile(tolerated=1)
        self.endpoint("ghost", fqdn("web-nothere"))
        self.assertEqual(self.wait_status("ghost", "Degraded"), ["CheckingEndpoint", "Degraded"])
        # the group appears: Online at the next probe
        self.group("web-nothere")
        self.wait_status("ghost", "Online")

    def test_a_group_still_provisioning_is_not_online(self):
        ctl("config", {"lro_polls": 1000})
        r = arm("PUT", rgpath("Microsoft.ContainerInstance/containerGroups/web-slow"),
                aci_group("web-slow").serialize(), api_version="2026-05-01")
        self.assertEqual(r.status, 201)
        self.profile(tolerated=0)
        self.endpoint("slow", fqdn("web-slow"))
        self.assertEqual(self.wait_status("slow", "Degraded"), ["CheckingEndpoint", "Degraded"])

    def test_disabled_inactive_and_monitoring_restarts_when_enabled_again(self):
        self.group("web-1")
        self.profile()
        self.endpoint("e1", fqdn("web-1"))
        self.wait_status("e1", "Online")
        e = self.tm.endpoints.update(RG, "berth-roll", "ExternalEndpoints", "e1", tmm.Endpoint(endpoint_status="Disabled"))
        self.assertEqual(e.endpoint_monitor_status, "Disabled")
        self.assertEqual(self.tm.profiles.get(RG, "berth-roll").monitor_config.profile_monitor_status, "Inactive")
        e = self.tm.endpoints.update(RG, "berth-roll", "ExternalEndpoints", "e1", tmm.Endpoint(endpoint_status="Enabled"))
        self.assertEqual(e.endpoint_monitor_status, "CheckingEndpoint")
        self.wait_status("e1", "Online")
        p = self.tm.profiles.update(RG, "berth-roll", tmm.Profile(profile_status="Disabled"))
        self.assertEqual((p.monitor_config.profile_monitor_status, p.endpoints[0].endpoint_monitor_status),
                         ("Disabled", "Inactive"))
        p = self.tm.profiles.update(RG, "berth-roll", tmm.Profile(profile_status="Enabled"))
        self.assertEqual((p.monitor_config.profile_monitor_status, p.endpoints[0].endpoint_monitor_status),
                         ("CheckingEndpoints", "CheckingEndpoint"))
        self.wait_status("e1", "Online")

    def test_a_weight_change_keeps_the_monitor_state(self):
        self.group("web-w")
        self.profile()
        self.endpoint("w", fqdn("web-w"), weight=100)
        self.wait_status("w", "Online")
        e = self.endpoint("w", fqdn("web-w"), weight=500)        # PUT over it (answers 201)
        self.assertEqual((RECORDED[-1][2], e.weight, e.endpoint_monitor_status), (201, 500, "Online"))
        e = self.tm.endpoints.update(RG, "berth-roll", "ExternalEndpoints", "w", tmm.Endpoint(weight=1000))
        self.assertEqual(e.endpoint_monitor_status, "Online")
        # a new target restarts monitoring
        self.group("web-w2")
        e = self.endpoint("w", fqdn("web-w2"), weight=1000)
        self.assertEqual(e.endpoint_monitor_status, "CheckingEndpoint")

    def test_an_external_target_is_online_once_read_back(self):
        self.profile()
        e = self.endpoint("ext", "www.example.com")
        self.assertEqual(e.endpoint_monitor_status, "CheckingEndpoint")
        self.assertEqual(self.status("ext"), "Online")
        ctl("config", {"time_scale": 1})
        p = self.tm.profiles.create_or_update(RG, "berth-ext", tmm.Profile(
            location="global", traffic_routing_method="Weighted", dns_config=tmm.DnsConfig(relative_name="berth-ext"),
            monitor_config=tmm.MonitorConfig(protocol="HTTP", port=80), endpoints=[tmm.Endpoint(
                name="x", type="Microsoft.Network/trafficManagerProfiles/externalEndpoints", target="x.example.org")]))
        self.assertEqual((p.endpoints[0].endpoint_monitor_status, p.monitor_config.profile_monitor_status),
                         ("CheckingEndpoint", "CheckingEndpoints"))
        self.assertEqual(self.tm.profiles.get(RG, "berth-ext").monitor_config.profile_monitor_status, "Online")

    def test_interval_and_tolerated_failures_set_the_detection_time(self):
        ctl("config", {"time_scale": 20})       # a 10 s interval: 0.5 s
        self.group("web-fast")
        self.profile(interval=10, tolerated=0)
        self.endpoint("f", fqdn("web-fast"))
        self.wait_status("f", "Online")
        t0 = time.monotonic()
        ctl("faults", {"rules": [{"action": "probe_fails", "group": "WEB-FAST"}]})
        self.wait_status("f", "Degraded")
        # one failed probe is enough: within an interval (0.5 s), far from the 6 s that interval 30
        # and 3 tolerated failures would take (a loose bound: the machine may be busy)
        self.assertLess(time.monotonic() - t0, 4.0)

    def test_time_scale_is_validated_and_reported(self):
        self.assertEqual(ctl("config", {})["time_scale"], self.SCALE)
        for bad in (0, -1, "fast", True):
            r = http("POST", "/_sim/config", {"time_scale": bad}, validate=False)
            self.assertEqual(r.status, 400, bad)
        t1 = ctl("state")["sim_time"]
        time.sleep(0.05)
        self.assertGreaterEqual(ctl("state")["sim_time"] - t1, 0.05 * self.SCALE)


class HealthFaults(Monitoring):
    SCALE = 50                   # exit_after 5 s runs 0.1 s; the 10 s back-off 0.2 s

    def test_exit_after_restarts_the_containers_in_a_crash_loop(self):
        ctl("faults", {"rules": [{"action": "exit_after", "group": "web-crash", "seconds": 5, "exit_code": 1}]})
        g = self.group("web-crash")
        self.assertEqual(g.containers[0].instance_view.current_state.state, "Running")
        t0 = time.monotonic()
        seen = set()

        def crashed_often():
            g = self.aci.container_groups.get(RG, "web-crash")
            iv = g.containers[0].instance_view
            seen.add(iv.current_state.state)
            return iv if iv.restart_count >= 3 and seen >= {"Running", "Terminated", "Waiting"} else None
        iv = wait_for(crashed_often, what="restarts and all three states")
        # a restart per 15 s (5 s running + 10 s back-off) at most
        self.assertLessEqual(iv.restart_count, (time.monotonic() - t0) * self.SCALE / 15 + 1)
        self.assertEqual(iv.previous_state.state, "Terminated")
        self.assertEqual((iv.previous_state.exit_code, iv.previous_state.detail_status), (1, "Error"))
        self.assertLess(iv.previous_state.start_time, iv.previous_state.finish_time)
        ev = {e.name: e for e in iv.events}
        self.assertEqual(ev["Started"].count, iv.restart_count + 1)
        self.assertEqual(ev["BackOff"].type, "Warning")
        self.assertIn(ev["BackOff"].count, (iv.restart_count, iv.restart_count + 1))
        # the group stays Running (restart policy Always); while terminated the probe answers 503
        self.assertEqual(self.aci.container_groups.get(RG, "web-crash").instance_view.state, "Running")
        statuses = set()
        wait_for(lambda: statuses.add(probe(fqdn("web-crash"))[0]) or statuses >= {200, 503},
                 what="the probe to answer both 200 and 503")
        waiting = wait_for(lambda: [c for c in [self.aci.container_groups.get(RG, "web-crash").containers[0]]
                                    if c.instance_view.current_state.state == "Waiting"])
        self.assertEqual(waiting[0].instance_view.current_state.detail_status,
                         "CrashLoopBackOff: Back-off restarting failed")
        self.assertEqual(waiting[0].instance_view.previous_state.state, "Terminated")

    def test_exit_after_ends_when_the_faults_are_deleted(self):
        ctl("faults", {"rules": [{"action": "exit_after", "group_regex": "^web-", "seconds": 1}]})
        self.group("web-c2")
        wait_for(lambda: self.aci.container_groups.get(RG, "web-c2").containers[0].instance_view.restart_count >= 1)
        http("DELETE", "/_sim/faults", validate=False)
        time.sleep(11 / self.SCALE)              # the back-off under way ends
        n = self.aci.container_groups.get(RG, "web-c2").containers[0].instance_view.restart_count
        time.sleep(30 / self.SCALE)
        iv = self.aci.container_groups.get(RG, "web-c2").containers[0].instance_view
        self.assertEqual((iv.restart_count, iv.current_state.state), (n, "Running"))
        self.assertEqual(probe(fqdn("web-c2"))[0], 200)

    def test_exit_after_with_restart_policy_never_terminates_the_group(self):
        ctl("faults", {"rules": [{"action": "exit_after", "group": "web-once", "seconds": 2, "exit_code": 3}]})
        self.group("web-once", restart_policy="Never")
        g = wait_for(lambda: (lambda g: g if g.instance_view.state == "Failed" else None)(
            self.aci.container_groups.get(RG, "web-once")))
        iv = g.containers[0].instance_view
        self.assertEqual((iv.restart_count, iv.current_state.state, iv.current_state.exit_code), (0, "Terminated", 3))
        self.assertEqual(g.provisioning_state, "Succeeded")
        self.assertEqual(probe(fqdn("web-once"))[0], 503)

    def test_exit_after_degrades_the_endpoint_when_the_back_off_outlasts_the_probes(self):
        ctl("faults", {"rules": [{"action": "exit_after", "group": "web-down", "seconds": 1, "backoff_seconds": 300}]})
        self.group("web-down")
        self.profile(interval=10, tolerated=1)
        self.endpoint("down", fqdn("web-down"))
        self.assertEqual(self.wait_status("down", "Degraded"), ["CheckingEndpoint", "Degraded"])

    def test_unhealthy_at_step_counts_the_weights_given_to_the_target(self):
        ctl("faults", {"rules": [{"action": "unhealthy_at_step", "group_regex": "^web-(?!stable$)", "step": 2}]})
        self.group("web-stable")
        self.group("web-7f3a9c2")
        self.profile(tolerated=0)
        self.endpoint("stable", fqdn("web-stable"), weight=900)
        self.endpoint("canary", fqdn("web-7f3a9c2"), weight=100)          # weight 1
        self.wait_status("canary", "Online")
        self.endpoint("canary", fqdn("web-7f3a9c2"), weight=100)          # the same weight again: not a step
        self.assertEqual(probe(fqdn("web-7f3a9c2"))[0], 200)
        tgt = {t["fqdn"]: t for t in ctl("state")["targets"]}
        self.assertEqual((tgt[fqdn("web-7f3a9c2")]["steps"], tgt[fqdn("web-7f3a9c2")]["healthy"]), (1, True))
        self.tm.endpoints.update(RG, "berth-roll", "ExternalEndpoints", "canary", tmm.Endpoint(weight=500))  # 2
        self.assertEqual(probe(fqdn("web-7f3a9c2"))[0], 503)
        self.wait_status("canary", "Degraded")
        tgt = {t["fqdn"]: t for t in ctl("state")["targets"]}
        self.assertEqual((tgt[fqdn("web-7f3a9c2")]["steps"], tgt[fqdn("web-7f3a9c2")]["healthy"]), (2, False))
        # the stable revision took weights 900 then 100, but the rule excludes it
        self.endpoint("stable", fqdn("web-stable"), weight=100)
        self.assertEqual(probe(fqdn("web-stable"))[0], 200)
        self.assertEqual(self.status("stable"), "Online")

    def test_group_faults_are_validated(self):
        for rule in ({"action": "probe_fails"},
                     {"action": "probe_fails", "group_regex": "("},
                     {"action": "exit_after", "group": "g"},
                     {"action": "exit_after", "group": "g", "seconds": -1},
                     {"action": "exit_after", "group": "g", "seconds": 1, "backoff_seconds": 0},
                     {"action": "unhealthy_at_step", "group": "g"},
                     {"action": "unhealthy_at_step", "group": "g", "step": 0}):
            r = http("POST", "/_sim/faults", {"rules": [rule]}, validate=False)
            self.assertEqual(r.status, 400, rule)
        self.assertEqual(ctl("state")["faults"], [])
        ctl("faults", {"rules": [{"action": "probe_fails", "group": "g", "times": 1}]})
        # times does not apply: the rule holds (and no ARM request is touched by it)
        self.group("g")
        self.group("g")
        self.assertEqual([r["left"] for r in ctl("state")["faults"]], [-1])


class ProbeServer(Monitoring):
    def test_answers_by_host_header(self):
        ctl("config", {"lro_polls": 2})
        r = arm("PUT", rgpath("Microsoft.ContainerInstance/containerGroups/web-p1"), aci_group("web-p1").serialize(),
                api_version="2026-05-01")
        self.assertEqual(r.status, 201)
        st, body = probe(fqdn("web-p1"))
        self.assertEqual(st, 503)                                   # still provisioning
        self.assertIn("web-p1", body)
        self.group("web-p1")                                        # provisioned
        self.assertEqual(probe(fqdn("web-p1")), (200, "ok web-p1"))
        self.assertEqual(probe("WEB-P1.WestUS.AzureContainer.io:80", "/healthz?x=1")[0], 200)
        self.assertEqual(probe(fqdn("web-p1") + ".:8080")[0], 200)
        self.assertEqual(probe(fqdn("web-p1"), method="HEAD"), (200, ""))
        self.assertEqual(probe("web-p1.eastus.azurecontainer.io")[0], 404)    # label + location
        self.assertEqual(probe("www.example.com")[0], 404)
        ctl("faults", {"rules": [{"action": "probe_fails", "group": "web-p1"}]})
        self.assertEqual(probe(fqdn("web-p1"))[0], 503)
        http("DELETE", "/_sim/faults", validate=False)
        self.assertEqual(probe(fqdn("web-p1"))[0], 200)
        self.aci.container_groups.begin_delete(RG, "web-p1").result()
        self.assertEqual(probe(fqdn("web-p1"))[0], 404)
        log = ctl("probes")
        self.assertEqual([e["status"] for e in log], [503, 200, 200, 200, 200, 404, 404, 503, 200, 404])
        self.assertEqual((log[2]["host"], log[2]["path"], log[2]["method"], log[2]["group"]),
                         ("WEB-P1.WestUS.AzureContainer.io:80", "/healthz?x=1", "GET", "web-p1"))
        self.assertTrue(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", log[0]["time"]))
        self.assertNotIn("probes", [e["path"] for e in ctl("log")])          # not in the ARM log
        ctl("reset", {})
        self.assertEqual(ctl("probes"), [])

    def test_port_is_in_state_and_targets_explain_the_health(self):
        st = ctl("state")
        self.assertIsInstance(st["probe_port"], int)
        self.group("web-t")
        ctl("faults", {"rules": [{"action": "probe_fails", "group": "web-t"}]})
        t = ctl("state")["targets"]
        self.assertEqual(t, [{"fqdn": fqdn("web-t"), "group": "web-t", "healthy": False,
                              "reason": "fault probe_fails", "steps": 0}])


def main():
    import sys
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)   # SDK clients left to the garbage collector
    argv = sys.argv[1:]
    verbosity = 2 if "-v" in argv else 1
    names = [a for a in argv if not a.startswith("-")]
    loader = unittest.defaultTestLoader
    suite = loader.loadTestsFromNames(names, sys.modules[__name__]) if names else \
        loader.loadTestsFromModule(sys.modules[__name__])
    res = unittest.TextTestRunner(verbosity=verbosity, warnings="ignore").run(suite)
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    print("azure-sim: %d passed, %d failed" % (res.testsRun - failed - len(res.skipped), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
