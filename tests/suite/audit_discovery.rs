//! `moat audit` discovery against the emulator, through the read-only client: every account in a
//! subscription (or resource group) is found once, and the emulator saw no write.

use moat::audit::discover::{discover, scopes};
use moat::audit::read_only::ReadOnly;
use serde_json::Value;

use moat::emulator::EmulatorConfig;

use crate::support::e2e::{connect, emulator_with, repo};

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";

/// The account ids the seed plants in a subscription (optionally one resource group).
fn seeded(sub: &str, rg: Option<&str>) -> Vec<String> {
    let mut ids: Vec<String> = moat::emulator::load_seed_file(repo("examples/fleet-seed.json"))
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "Microsoft.CognitiveServices/accounts")
        .filter_map(|v: &Value| v["id"].as_str().map(str::to_string))
        .filter(|id| id.starts_with(&format!("/subscriptions/{sub}/")))
        .filter(|id| rg.is_none_or(|rg| id.contains(&format!("/resourceGroups/{rg}/"))))
        .collect();
    ids.sort_by_key(|i| i.to_ascii_lowercase());
    ids
}

#[tokio::test]
async fn discovery_lists_each_account_in_scope_once_and_writes_nothing() {
    // One account per page: discovery must follow `nextLink` to the end.
    let config = EmulatorConfig {
        page_size: Some(1),
        ..EmulatorConfig::default()
    };
    let emu = emulator_with(config, "examples/fleet-seed.json").await;
    let api = ReadOnly(connect(&emu));

    let whole = discover(&api, &scopes(&[SUB.into()], &[])).await.unwrap();
    let ids: Vec<String> = whole.iter().map(|d| d.id.clone()).collect();
    assert!(
        ids.len() > 1,
        "the seed has several accounts: paging is exercised"
    );
    assert_eq!(ids, seeded(SUB, None));
    assert!(whole
        .iter()
        .all(|d| d.subscription == SUB && !d.location.is_empty()));

    // A resource group and the subscription it is in: still once each.
    let rg = whole[0].resource_group.clone();
    let both = discover(&api, &scopes(&[SUB.into()], std::slice::from_ref(&rg)))
        .await
        .unwrap();
    let rg_ids: Vec<String> = both.iter().map(|d| d.id.clone()).collect();
    assert_eq!(rg_ids, seeded(SUB, Some(&rg)));

    let log = emu.request_log();
    let sub_pages = log
        .iter()
        .filter(|e| {
            e.path == format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/accounts")
        })
        .count();
    assert_eq!(sub_pages, ids.len(), "one page per account: {log:?}");
    assert!(log.iter().all(|e| e.method == "GET"), "{log:?}");
}
