//! The quickstart end to end against the emulator: brownfield → plan → apply → plan (empty), with
//! the request log proving the cutover order, and a second apply that writes nothing; and the
//! quickstart linking its DNS zone to two VNets.

use crate::support;

use moat::plan::model::Action;
use support::e2e::*;

#[tokio::test]
async fn brownfield_quickstart_converges_in_cutover_order_and_stays_converged() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/quickstart.yaml");

    let p = plan(api.as_ref(), &bp).await;
    assert!(
        !p.is_failed(),
        "{:#?}",
        p.changes()
            .filter(|c| c.action == Action::Blocked)
            .collect::<Vec<_>>()
    );
    let s = p.summary();
    assert!(
        s.create >= 9 && s.update >= 5,
        "unexpected plan summary {s:?}"
    );

    emu.clear_request_log();
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();

    let idx = |m: &str, f: &str| {
        first(&log, m, f).unwrap_or_else(|| panic!("no {m} {f} in the request log"))
    };
    let lst = |m: &str, f: &str| {
        last(&log, m, f).unwrap_or_else(|| panic!("no {m} {f} in the request log"))
    };
    let role_put = idx("PUT", "/providers/Microsoft.Authorization/roleAssignments/");
    let rai_put = idx("PUT", "/raiPolicies/strict-production-filter");
    let dep_put = idx("PUT", "/deployments/gpt-4o");
    let pe_put = idx("PUT", "/privateEndpoints/contoso-openai-prod-pe");
    let group_put = idx("PUT", "/privateDnsZoneGroups/");
    // M2: the key-access alert rule is written (scoped to the account, no action group named).
    let _alert_put = idx("PUT", "/activityLogAlerts/contoso-openai-prod-key-access");
    let acct_patches: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.method == "PATCH"
                && e.path
                    .to_ascii_lowercase()
                    .ends_with("/accounts/contoso-openai-prod")
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        acct_patches.len(),
        4,
        "identity, network, public access, local auth"
    );
    let last_patch = *acct_patches.last().unwrap();
    // The RAI policy exists before the deployment is re-bound, and the re-bind gives the
    // account to the private endpoint first (the cutover's longest operation: src/apply/locks.rs).
    assert!(rai_put < dep_put);
    assert!(
        pe_put < dep_put,
        "the deployment re-bind must not take the account before the private endpoint"
    );
    // The private path (endpoint, zone group, and the gate's reads of the connection and A
    // records) comes before the network tightening and public access off.
    let pec_read = idx("GET", "/privateEndpointConnections");
    let a_read = idx("GET", "/A/contoso-openai-prod");
    for (name, i) in [
        ("endpoint", pe_put),
        ("zone group", group_put),
        ("connection check", pec_read),
        ("A record check", a_read),
    ] {
        assert!(
            i < acct_patches[1],
            "{name} must come before the network PATCH"
        );
    }
    // Role assignment created and read back before key auth goes off, which is last of all.
    let role_read = lst("GET", "/providers/Microsoft.Authorization/roleAssignments/");
    assert!(role_put < role_read && role_read < last_patch);
    let last_write = log.iter().rposition(is_write).unwrap();
    assert!(
        last_write <= last_patch + 2,
        "key auth off must be the last write (log: {:#?})",
        &log[last_patch..]
    );

    // Live state now matches: the plan is empty. Observing the hardened instance takes exactly
    // 18 reads (the zone group is read now that the endpoint exists), none repeated.
    emu.clear_request_log();
    let again = plan(api.as_ref(), &bp).await;
    let reads = emu.request_log();
    assert_eq!(
        reads.len(),
        18,
        "{:#?}",
        reads
            .iter()
            .map(|e| format!("{} {}", e.method, e.path))
            .collect::<Vec<_>>()
    );
    assert!(reads.iter().all(|e| e.method == "GET"));
    let left: Vec<_> = again
        .changes()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    assert!(left.is_empty(), "not converged: {left:#?}");
    let acct = emu
        .resource(&bp.instances[0].account_id())
        .expect("account exists");
    assert_eq!(acct["properties"]["disableLocalAuth"], true);
    assert_eq!(acct["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(
        acct["properties"]["customSubDomainName"],
        "contoso-openai-prod"
    );

    // A second apply on a converged instance makes no write at all.
    emu.clear_request_log();
    let report = apply(api.clone(), &again).await;
    assert!(report.ok() && report.applied.is_empty());
    assert_eq!(emu.request_log().iter().filter(|e| is_write(e)).count(), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn observe_reads_each_resource_once_with_a_fixed_request_count() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/quickstart.yaml");
    emu.clear_request_log();
    let _ = plan(api.as_ref(), &bp).await;
    let log = emu.request_log();
    // docs/architecture.md states this number: account, privateLinkResources, deployments, RAI
    // policy, endpoint, NSG, subnet, role assignments, diagnostic settings, Defender for AI
    // setting, key-access and config-change activity-log rules and content-filter and
    // token-usage metric rules and the new-caller-prefix log rule (M2; the strict baseline names no action group), deleted-account
    // check skipped (the account exists), zone group skipped (no endpoint yet), and per zone the
    // zone and its links.
    assert_eq!(
        log.len(),
        17,
        "{:#?}",
        log.iter()
            .map(|e| format!("{} {}", e.method, e.path))
            .collect::<Vec<_>>()
    );
    let mut paths: Vec<String> = log
        .iter()
        .map(|e| format!("{} {}", e.method, e.path.to_ascii_lowercase()))
        .collect();
    let n = paths.len();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), n, "a read was repeated");
    emu.shutdown().await;
}

/// Two VNets linked to the zone: a link each (not one shared name with the second dropped), and
/// the second plan is empty.
#[tokio::test]
async fn two_vnet_links_converge_with_a_link_each_and_stay_converged() {
    let emu = emulator("examples/quickstart-seed.json").await;
    emu.seed(&[serde_json::json!({
        "id": support::hub_vnet_id(),
        "location": "eastus",
        "properties": {"addressSpace": {"addressPrefixes": ["10.20.0.0/16"]}}
    })])
    .expect("seed the hub VNet");
    let api = connect(&emu);
    let bp = support::two_vnet_quickstart(None);

    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed());
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let zone = moat::resources::private_dns_zone::id(
        &bp.instances[0].controls.private_dns.as_ref().unwrap().spec,
        "privatelink.openai.azure.com",
    );
    for (link, vnet) in [
        ("vnet-prod-link", support::vnet_id()),
        ("vnet-hub-link", support::hub_vnet_id()),
    ] {
        let l = emu
            .resource(&format!("{zone}/virtualNetworkLinks/{link}"))
            .unwrap_or_else(|| panic!("no link {link}"));
        assert!(
            l["properties"]["virtualNetwork"]["id"]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case(&vnet)),
            "{l:#}"
        );
    }

    let again = plan(api.as_ref(), &bp).await;
    let pending: Vec<_> = again
        .changes()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| format!("{} {:?}", c.address, c.action))
        .collect();
    assert!(pending.is_empty(), "{pending:#?}");
    emu.shutdown().await;
}
