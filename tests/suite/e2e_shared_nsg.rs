//! Two instances sharing one NSG, against the emulator (issue 15): the rules the blueprint
//! declares on a shared NSG are planned whole by any shard, so planning one instance alone
//! (`moat plan --instance`, the sharding docs/pipelines-github-actions.md recommends) never
//! deletes a rule the other declares, and per-instance plans after a fleet apply do not flip
//! anything back.

use crate::support;

use moat::blueprint::resolved::Blueprint;
use moat::cli::Selectors;
use moat::plan::model::{Action, Plan};
use serde_json::{json, Value};
use support::e2e::*;

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";
const NSG: &str = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-network/providers/Microsoft.Network/networkSecurityGroups/nsg-private-endpoints";

/// The quickstart's instance, and `contoso-openai-batch` on the same subnet and NSG: it drops
/// the APIM rule the first declares, and removes undeclared rules.
fn blueprint(dir: &std::path::Path) -> Blueprint {
    let quick = std::fs::read_to_string(repo("examples/quickstart.yaml")).unwrap();
    let (head, prod) = quick.split_once("instances:\n").unwrap();
    let baseline = repo("blueprints/strict-baseline.yaml");
    let head = head.replace(
        "../blueprints/strict-baseline.yaml",
        &baseline.display().to_string(),
    );
    let batch = prod
        .replace("contoso-openai-prod", "contoso-openai-batch")
        .replace(
            "      nsg:\n        rules:\n",
            "      nsg:\n        removeUndeclaredRules: true\n        rules:\n",
        )
        .replace(
            "          Allow-APIM-Subnet:\n            source: 10.10.3.0/24\n",
            "          Allow-APIM-Subnet: ~\n",
        );
    assert!(batch.contains("removeUndeclaredRules: true") && batch.contains("APIM-Subnet: ~"));
    let path = dir.join("shared-nsg.yaml");
    std::fs::write(&path, format!("{head}instances:\n{prod}{batch}")).unwrap();
    moat::blueprint::load(&path).unwrap_or_else(|d| panic!("{d}"))
}

/// The quickstart seed with a second account, and the APIM rule already on the NSG, written by
/// hand (no ownership marker) exactly as the first instance declares it.
fn seed() -> Vec<Value> {
    let mut seed = quickstart_seed_with("contoso-openai-batch");
    for v in seed.iter_mut() {
        if v["id"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(NSG))
        {
            v["properties"]["securityRules"] = json!([{
                "name": "Allow-APIM-Subnet",
                "properties": {
                    "priority": 110, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                    "sourceAddressPrefix": "10.10.3.0/24", "sourcePortRange": "*",
                    "destinationAddressPrefix": "10.10.2.0/24", "destinationPortRange": "443",
                    "description": "API Management subnet to the OpenAI private endpoint"
                }
            }]);
        }
    }
    seed
}

/// The blueprint restricted to one instance, exactly as `--instance NAME` does.
fn only(bp: &Blueprint, name: &str) -> Blueprint {
    let sel = Selectors {
        instances: vec![name.to_string()],
        subscriptions: Vec::new(),
    };
    moat::commands::select(bp.clone(), &sel).unwrap()
}

/// The security-rule changes of a plan: rule id, action, request body.
fn rules(p: &Plan) -> Vec<(String, Action, Option<Value>)> {
    let mut v: Vec<_> = p
        .changes()
        .filter(|c| c.kind.to_string() == "security-rule")
        .map(|c| {
            let body = c.write.as_ref().and_then(|w| w.body.clone());
            (c.id.to_ascii_lowercase(), c.action, body)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn writes(p: &Plan) -> Vec<String> {
    p.changes()
        .filter(|c| c.action.is_write())
        .map(|c| format!("{:?} {}", c.action, c.address))
        .collect()
}

#[tokio::test]
async fn one_instance_alone_plans_the_shared_nsg_whole_and_nothing_flips() {
    let dir = tempfile::tempdir().unwrap();
    let bp = blueprint(dir.path());
    let emu = start(&seed()).await;
    let api = connect(&emu);
    assert!(bp.instances[0].subscription == SUB && bp.instances.len() == 2);

    // The instance that removes undeclared rules, alone: the APIM rule the other declares is
    // kept as it is, not deleted.
    let batch = plan(api.as_ref(), &only(&bp, "contoso-openai-batch")).await;
    let apim = format!("{NSG}/securityRules/Allow-APIM-Subnet").to_ascii_lowercase();
    let batch_rules = rules(&batch);
    assert!(
        batch_rules
            .iter()
            .any(|(id, action, _)| *id == apim && *action == Action::NoOp),
        "{batch_rules:#?}"
    );
    assert!(
        !batch.changes().any(|c| c.action == Action::Delete),
        "{:#?}",
        writes(&batch)
    );
    // Each shard plans the shared NSG's rules identically.
    let prod = plan(api.as_ref(), &only(&bp, "contoso-openai-prod")).await;
    assert_eq!(rules(&prod), batch_rules);

    // The fleet plan writes each rule once.
    let fleet = plan(api.as_ref(), &bp).await;
    assert!(!fleet.is_failed(), "{:#?}", writes(&fleet));
    let fleet_rules = rules(&fleet);
    assert_eq!(fleet_rules, batch_rules);
    let report = apply(api.clone(), &fleet).await;
    assert!(report.ok(), "{report:#?}");

    // After the fleet apply, every shard and the fleet have nothing left to do.
    for name in ["contoso-openai-prod", "contoso-openai-batch"] {
        let p = plan(api.as_ref(), &only(&bp, name)).await;
        assert!(!p.has_changes(), "{name}: {:#?}", writes(&p));
    }
    assert!(!plan(api.as_ref(), &bp).await.has_changes());
}

async fn start(seed: &[Value]) -> moat::emulator::EmulatorHandle {
    let h = moat::emulator::EmulatorHandle::start(moat::emulator::EmulatorConfig::default())
        .await
        .expect("emulator starts");
    h.seed(seed).expect("seed applies");
    h
}
