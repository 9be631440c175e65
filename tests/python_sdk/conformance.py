"""Drive moat's ARM emulator with Microsoft's Python management SDKs.

Every resource type moat touches is written and read through the SDK's own operations:
long-running operations through the SDK's pollers, lists through its pagers (the emulator
runs with a small page size, so they follow nextLink), errors through its exception types.
Environment: MOAT_EMULATOR_URL (http://127.0.0.1:PORT), MOAT_EMULATOR_TOKEN.
Last line of output: "N passed, N failed"; exit status 1 on any failure.
"""

import os
import sys
import time
import traceback
from urllib.parse import urlparse

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices import models as cs
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as net
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.privatedns import models as dns

BASE = os.environ["MOAT_EMULATOR_URL"]
TOKEN = os.environ["MOAT_EMULATOR_TOKEN"]
SUB = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10"
RG = "rg-sdk"
SCOPE = "https://management.azure.com/.default"
ROLE_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
ROLE_CONTRIB = "a001fd3d-188f-4b5d-821b-7da978bf7442"
ROLE_CS_USER = "a97b65f3-24c7-4388-baec-2e87135dc908"
P1 = "11111111-1111-1111-1111-111111111111"
P2 = "22222222-2222-2222-2222-222222222222"
ZONE = "privatelink.openai.azure.com"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class StaticToken:
    """A TokenCredential handing out the emulator's token."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken(TOKEN, int(time.time()) + 3600)


class LoopbackBearerPolicy(ARMChallengeAuthenticationPolicy):
    """azure-core refuses bearer tokens over plain http; the emulator is plain HTTP on
    loopback. Lift that check (azure-core's documented `enforce_https` request option) for
    loopback hosts only: any other URL still needs https."""

    def on_request(self, request):
        if urlparse(request.http_request.url).hostname in LOOPBACK:
            request.context.options["enforce_https"] = False
        return super().on_request(request)


CRED = StaticToken()
KW = dict(
    base_url=BASE,
    authentication_policy=LoopbackBearerPolicy(CRED, SCOPE),
    polling_interval=0.05,
    retry_total=0,
)
assert urlparse(BASE).hostname in LOOPBACK, "the emulator must be on loopback"

csc = CognitiveServicesManagementClient(CRED, SUB, **KW)
netc = NetworkManagementClient(CRED, SUB, **KW)
dnsc = PrivateDnsManagementClient(CRED, SUB, **KW)
authc = AuthorizationManagementClient(CRED, SUB, **KW)
monc = MonitorManagementClient(CRED, SUB, **KW)

RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
ACCT = "sdkacct"
ACCT_ID = f"{RG_ID}/providers/Microsoft.CognitiveServices/accounts/{ACCT}"

results = []


def check(name):
    def wrap(fn):
        started = time.monotonic()
        try:
            fn()
            results.append((name, None))
            print(f"PASS {name} ({time.monotonic() - started:.2f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            results.append((name, e))
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(limit=3)
        return fn

    return wrap


def raw(client, method, path, api, body=None):
    """A request through the client's own pipeline (auth, retries, base_url). The Monitor
    client of azure-mgmt-monitor 7.0.0 names its send_request `_send_request`."""
    req = HttpRequest(method, f"{path}?api-version={api}", json=body)
    send = getattr(client, "send_request", None) or client._send_request
    return send(req)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


@check("resource group and workspace (generic ARM through send_request)")
def _():
    r = raw(netc, "PUT", RG_ID, "2021-04-01", {"location": "eastus"})
    expect(r.status_code in (200, 201), r.text())
    ws = f"{RG_ID}/providers/Microsoft.OperationalInsights/workspaces/law"
    r = raw(netc, "PUT", ws, "2023-09-01", {"location": "eastus"})
    expect(r.status_code in (200, 201), r.text())


# --- Microsoft.CognitiveServices -------------------------------------------------------


def account(name, pna="Enabled"):
    return cs.Account(
        location="eastus",
        kind="OpenAI",
        sku=cs.Sku(name="S0"),
        properties=cs.AccountProperties(custom_sub_domain_name=name, public_network_access=pna),
    )


@check("accounts: begin_create (LRO poller), get")
def _():
    a = csc.accounts.begin_create(RG, ACCT, account(ACCT)).result()
    expect(a.properties.provisioning_state == "Succeeded", a.properties.provisioning_state)
    g = csc.accounts.get(RG, ACCT)
    expect(g.properties.custom_sub_domain_name == ACCT, g.properties)
    expect(g.properties.endpoint, "endpoint")


@check("accounts: begin_update (LRO poller)")
def _():
    u = csc.accounts.begin_update(
        RG, ACCT, cs.Account(properties=cs.AccountProperties(disable_local_auth=True))
    ).result()
    expect(u.properties.disable_local_auth is True, u.properties)
    expect(csc.accounts.get(RG, ACCT).properties.disable_local_auth is True, "not stored")


@check("accounts: list_by_resource_group pages through nextLink")
def _():
    for n in ("sdkacct2", "sdkacct3"):
        csc.accounts.begin_create(RG, n, account(n)).result()
    names = sorted(a.name for a in csc.accounts.list_by_resource_group(RG))
    expect(names == ["sdkacct", "sdkacct2", "sdkacct3"], names)


@check("deployments: begin_create_or_update, get, list")
def _():
    d = csc.deployments.begin_create_or_update(
        RG,
        ACCT,
        "gpt-4o",
        cs.Deployment(
            sku=cs.Sku(name="Standard", capacity=10),
            properties=cs.DeploymentProperties(
                model=cs.DeploymentModel(format="OpenAI", name="gpt-4o", version="2024-11-20")
            ),
        ),
    ).result()
    expect(d.properties.provisioning_state == "Succeeded", d.properties.provisioning_state)
    expect(csc.deployments.get(RG, ACCT, "gpt-4o").sku.capacity == 10, "capacity")
    expect([x.name for x in csc.deployments.list(RG, ACCT)] == ["gpt-4o"], "list")


@check("RAI policies: create_or_update, get, list")
def _():
    p = csc.rai_policies.create_or_update(
        RG,
        ACCT,
        "strict",
        cs.RaiPolicy(
            properties=cs.RaiPolicyProperties(
                base_policy_name="Microsoft.DefaultV2",
                mode="Blocking",
                content_filters=[
                    cs.RaiPolicyContentFilter(
                        name="Hate", enabled=True, blocking=True, severity_threshold="Low", source="Prompt"
                    )
                ],
            )
        ),
    )
    expect(p.name == "strict", p.name)
    g = csc.rai_policies.get(RG, ACCT, "strict")
    expect(g.properties.content_filters[0].severity_threshold == "Low", g.properties)
    expect("strict" in [x.name for x in csc.rai_policies.list(RG, ACCT)], "list")


@check("Defender for AI settings: create_or_update, get, list, update")
def _():
    s = csc.defender_for_ai_settings.create_or_update(
        RG, ACCT, "Default", cs.DefenderForAISetting(state="Enabled")
    )
    expect(s.state == "Enabled", s)
    expect(csc.defender_for_ai_settings.get(RG, ACCT, "Default").state == "Enabled", "get")
    expect([x.name for x in csc.defender_for_ai_settings.list(RG, ACCT)] == ["Default"], "list")
    u = csc.defender_for_ai_settings.update(RG, ACCT, "Default", cs.DefenderForAISetting(state="Disabled"))
    expect(u.state == "Disabled", u)


# --- Microsoft.Network -------------------------------------------------------------------


@check("NSG and security rule: begin_create_or_update, get")
def _():
    n = netc.network_security_groups.begin_create_or_update(
        RG, "nsg", net.NetworkSecurityGroup(location="eastus")
    ).result()
    expect(n.provisioning_state == "Succeeded", n.provisioning_state)
    r = netc.security_rules.begin_create_or_update(
        RG,
        "nsg",
        "deny-internet",
        net.SecurityRule(
            protocol="*",
            access="Deny",
            direction="Outbound",
            priority=4000,
            source_address_prefix="*",
            source_port_range="*",
            destination_address_prefix="Internet",
            destination_port_range="*",
        ),
    ).result()
    expect(r.access == "Deny", r)
    g = netc.network_security_groups.get(RG, "nsg")
    expect([x.name for x in g.security_rules] == ["deny-internet"], g.security_rules)
    expect(len(g.default_security_rules) == 6, len(g.default_security_rules or []))


@check("VNet and subnets: begin_create_or_update, get, list")
def _():
    netc.virtual_networks.begin_create_or_update(
        RG,
        "vnet",
        net.VirtualNetwork(
            location="eastus", address_space=net.AddressSpace(address_prefixes=["10.30.0.0/16"])
        ),
    ).result()
    nsg = netc.network_security_groups.get(RG, "nsg")
    for i, name in enumerate(("pe", "apps", "data")):
        s = netc.subnets.begin_create_or_update(
            RG,
            "vnet",
            name,
            net.Subnet(
                address_prefix=f"10.30.{i + 1}.0/24",
                network_security_group=net.NetworkSecurityGroup(id=nsg.id),
            ),
        ).result()
        expect(s.provisioning_state == "Succeeded", s.provisioning_state)
    g = netc.subnets.get(RG, "vnet", "pe")
    expect(g.network_security_group.id.lower() == nsg.id.lower(), g.network_security_group)
    names = sorted(s.name for s in netc.subnets.list(RG, "vnet"))
    expect(names == ["apps", "data", "pe"], names)


@check("private endpoint: begin_create_or_update (LRO), get; the account's connection")
def _():
    subnet = netc.subnets.get(RG, "vnet", "pe")
    pe = netc.private_endpoints.begin_create_or_update(
        RG,
        "pe-acct",
        net.PrivateEndpoint(
            location="eastus",
            subnet=net.Subnet(id=subnet.id),
            private_link_service_connections=[
                net.PrivateLinkServiceConnection(
                    name="acct", private_link_service_id=ACCT_ID, group_ids=["account"]
                )
            ],
        ),
    ).result()
    expect(pe.provisioning_state == "Succeeded", pe.provisioning_state)
    g = netc.private_endpoints.get(RG, "pe-acct")
    expect(g.network_interfaces, "network interface")
    conns = list(csc.private_endpoint_connections.list(RG, ACCT).value)
    expect(len(conns) == 1, conns)
    c = csc.private_endpoint_connections.get(RG, ACCT, conns[0].name)
    expect(c.properties.private_link_service_connection_state.status == "Approved", c.properties)


# --- Microsoft.Network private DNS -------------------------------------------------------


@check("private DNS zone: begin_create_or_update, SOA record set, numberOfRecordSets")
def _():
    z = dnsc.private_zones.begin_create_or_update(RG, ZONE, dns.PrivateZone(location="global")).result()
    expect(z.number_of_record_sets == 1, z.number_of_record_sets)
    sets = list(dnsc.record_sets.list(RG, ZONE))
    expect([(s.name, s.type) for s in sets] == [("@", "Microsoft.Network/privateDnsZones/SOA")], sets)
    soa = dnsc.record_sets.get(RG, ZONE, "SOA", "@")
    expect(soa.soa_record.host == "azureprivatedns.net", soa.soa_record)


@check("virtual network link: begin_create_or_update, get")
def _():
    vnet = netc.virtual_networks.get(RG, "vnet")
    link = dnsc.virtual_network_links.begin_create_or_update(
        RG,
        ZONE,
        "vnet-link",
        dns.VirtualNetworkLink(
            location="global", virtual_network=dns.SubResource(id=vnet.id), registration_enabled=False
        ),
    ).result()
    expect(link.virtual_network_link_state == "Completed", link.virtual_network_link_state)
    expect(dnsc.virtual_network_links.get(RG, ZONE, "vnet-link").registration_enabled is False, "get")


@check("A record set: create_or_update, get, list_by_type")
def _():
    r = dnsc.record_sets.create_or_update(
        RG, ZONE, "A", "manual", dns.RecordSet(ttl=10, a_records=[dns.ARecord(ipv4_address="10.30.9.9")])
    )
    expect(r.fqdn == f"manual.{ZONE}.", r.fqdn)
    g = dnsc.record_sets.get(RG, ZONE, "A", "manual")
    expect(g.a_records[0].ipv4_address == "10.30.9.9", g.a_records)
    expect([x.name for x in dnsc.record_sets.list_by_type(RG, ZONE, "A")] == ["manual"], "list")


@check("private DNS zone group: begin_create_or_update writes the account's A record")
def _():
    zone = dnsc.private_zones.get(RG, ZONE)
    g = netc.private_dns_zone_groups.begin_create_or_update(
        RG,
        "pe-acct",
        "default",
        net.PrivateDnsZoneGroup(
            private_dns_zone_configs=[net.PrivateDnsZoneConfig(name="openai", private_dns_zone_id=zone.id)]
        ),
    ).result()
    expect(g.provisioning_state == "Succeeded", g.provisioning_state)
    a = dnsc.record_sets.get(RG, ZONE, "A", ACCT)
    expect(a.a_records, "A record of the endpoint")
    expect(dnsc.private_zones.get(RG, ZONE).number_of_record_sets == 3, "SOA + manual + account")


# --- Microsoft.Authorization -------------------------------------------------------------


def assignment_name(i, j):
    return f"aaaaaaaa-0000-0000-000{i}-00000000000{j}"


@check("role assignments: create, get; role definitions: get")
def _():
    scope = ACCT_ID
    for i, principal in enumerate((P1, P2)):
        for j, role in enumerate((ROLE_USER, ROLE_CONTRIB, ROLE_CS_USER)):
            a = authc.role_assignments.create(
                scope,
                assignment_name(i, j),
                RoleAssignmentCreateParameters(
                    role_definition_id=f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}",
                    principal_id=principal,
                    principal_type="ServicePrincipal",
                ),
            )
            expect(a.principal_id == principal, a)
    g = authc.role_assignments.get(scope, assignment_name(0, 0))
    expect(g.role_definition_id.lower().endswith(ROLE_USER), g.role_definition_id)
    d = authc.role_definitions.get(scope, ROLE_USER)
    expect(d.role_name == "Cognitive Services OpenAI User", d.role_name)


@check("role assignments: list_for_scope with $filter across pages")
def _():
    pager = authc.role_assignments.list_for_scope(ACCT_ID, filter=f"principalId eq '{P1}'")
    pages = [list(p) for p in pager.by_page()]
    expect(len(pages) >= 2, f"{len(pages)} page(s): the emulator's page size must split the list")
    got = [a for p in pages for a in p]
    expect({a.principal_id for a in got} == {P1}, [a.principal_id for a in got])
    expect(len(got) == 3, len(got))


# --- Microsoft.Insights (azure-mgmt-monitor 7.0.0 has no diagnostic_settings group) ------

DS = f"{ACCT_ID}/providers/Microsoft.Insights/diagnosticSettings"
INS = "2021-05-01-preview"
LAW = f"{RG_ID}/providers/Microsoft.OperationalInsights/workspaces/law"


@check("diagnostic settings: PUT, GET, list (send_request on the Monitor client)")
def _():
    body = {"properties": {"workspaceId": LAW, "logs": [{"categoryGroup": "allLogs", "enabled": True}]}}
    r = raw(monc, "PUT", f"{DS}/to-law", INS, body)
    expect(r.status_code == 200, r.text())
    r = raw(monc, "GET", f"{DS}/to-law", INS)
    expect(r.json()["properties"]["workspaceId"] == LAW, r.text())
    r = raw(monc, "GET", DS, INS)
    expect([s["name"] for s in r.json()["value"]] == ["to-law"], r.text())
    r = raw(monc, "GET", f"{ACCT_ID}/providers/Microsoft.Insights/diagnosticSettingsCategories", INS)
    expect("Audit" in [c["name"] for c in r.json()["value"]], r.text())


@check("diagnostic settings: a new one with retention enabled is refused")
def _():
    body = {
        "properties": {
            "workspaceId": LAW,
            "logs": [{"categoryGroup": "audit", "enabled": True, "retentionPolicy": {"enabled": True, "days": 7}}],
        }
    }
    r = raw(monc, "PUT", f"{DS}/retained", INS, body)
    expect(r.status_code == 400, r.status_code)
    expect(r.json()["code"] == "BadRequest", r.text())
    try:
        r.raise_for_status()
        raise AssertionError("no error raised")
    except HttpResponseError:
        pass


# --- errors ------------------------------------------------------------------------------


@check("404s raise ResourceNotFoundError")
def _():
    calls = [
        lambda: csc.accounts.get(RG, "nope"),
        lambda: csc.deployments.get(RG, ACCT, "nope"),
        lambda: netc.private_endpoints.get(RG, "nope"),
        lambda: netc.subnets.get(RG, "vnet", "nope"),
        lambda: dnsc.private_zones.get(RG, "nope.example"),
        lambda: authc.role_assignments.get(ACCT_ID, "aaaaaaaa-9999-0000-0000-000000000000"),
    ]
    for i, call in enumerate(calls):
        try:
            call()
        except ResourceNotFoundError:
            continue
        raise AssertionError(f"call {i} did not raise ResourceNotFoundError")


@check("deletes: private endpoint (LRO), zone group, account (LRO)")
def _():
    netc.private_dns_zone_groups.begin_delete(RG, "pe-acct", "default").result()
    netc.private_endpoints.begin_delete(RG, "pe-acct").result()
    csc.accounts.begin_delete(RG, "sdkacct3").result()
    try:
        csc.accounts.get(RG, "sdkacct3")
        raise AssertionError("account still there")
    except ResourceNotFoundError:
        pass


failed = sum(1 for _, e in results if e is not None)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
