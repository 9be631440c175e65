//! Ids, names and free text are validated at load (issue 21): ARM ids refuse `%` encodings, `?`,
//! `#`, whitespace and control characters, and each name follows ARM's rule for its kind; free
//! text has a length limit and no control characters. Each limit at the limit and one over.

use std::time::{Duration, Instant};

use moat::blueprint::formats::{self, Fmt};
use moat::blueprint::{self, Options};

fn options() -> Options {
    Options {
        today: time::macros::date!(2026 - 11 - 22),
        expired_exceptions_are_errors: true,
    }
}

/// The quickstart with `edits` applied (each replaces text that must be there) and `controls`
/// added to the instance's controls; the diagnostics, empty when it loads.
fn load<S: AsRef<str>>(edits: &[(&str, S)], controls: &str) -> String {
    let mut text = std::fs::read_to_string("examples/quickstart.yaml")
        .unwrap()
        .replace("../blueprints/", "blueprints/");
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to.as_ref(), 1);
    }
    text = text.replacen("    controls:\n", &format!("    controls:\n{controls}"), 1);
    let report = blueprint::load_str_with("fleet.yaml", &text, &options());
    report
        .diagnostics
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{d}\n"))
        .collect()
}

const SUBNET: &str = "virtualNetworks/vnet-prod/subnets/snet-private-endpoints";

#[test]
fn arm_ids_refuse_encodings_query_fragment_whitespace_and_control_characters() {
    assert_eq!(load::<&str>(&[], ""), "");
    for (bad, why) in [
        ("vnet-prod%2Fsubnets%2Fother", "it contains `%`"),
        ("vnet-prod?api-version=1", "it contains `?`"),
        ("vnet-prod#x", "it contains `#`"),
        ("vnet\\u0007prod", "the character \\u{7}"),
        ("vnet\\tprod", "the character \\u{9}"),
    ] {
        let edited = SUBNET.replace("vnet-prod", bad);
        // Double quotes, so YAML turns `\u0007` into the control character itself.
        let text = format!("\"/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-network/providers/Microsoft.Network/{edited}\"");
        let out = load(
            &[(
                &format!("/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-network/providers/Microsoft.Network/{SUBNET}"),
                &text,
            )],
            "",
        );
        assert!(out.starts_with("fleet.yaml:17:23: error: "), "{bad}: {out}");
        assert!(out.contains("is not a subnet resource id"), "{bad}: {out}");
        assert!(out.contains(why), "{bad}: {out}");
    }
}

#[test]
fn names_inside_ids_follow_arm_rules() {
    let long = "s".repeat(81);
    let edited = SUBNET.replace("snet-private-endpoints", &long);
    let out = load(&[(SUBNET, &edited)], "");
    assert!(out.contains("is not a subnet resource id"), "{out}");
    assert!(out.contains("is not a valid subnet name: 1-80"), "{out}");
    let edited = SUBNET.replace("snet-private-endpoints", &"s".repeat(80));
    assert_eq!(load(&[(SUBNET, &edited)], ""), "");
    // A workspace name ends with a letter or digit.
    let out = load(
        &[("workspaces/law-security", "workspaces/law-security-")],
        "",
    );
    assert!(out.contains("is not a valid workspace name"), "{out}");
}

/// `accountName: X` edits the account name; `Allow-App-Subnet!X` renames that NSG rule.
fn edit(spec: &str) -> Vec<(&'static str, String)> {
    match spec.split_once('!') {
        _ if spec.is_empty() => vec![],
        Some((_, name)) => vec![("          Allow-App-Subnet:", format!("          {name}:"))],
        None => vec![("accountName: contoso-openai-prod", spec.to_string())],
    }
}

/// A name → (controls to add, an edit for `edit`).
type MakeCase = dyn Fn(&str) -> (String, String);

#[test]
fn each_name_at_its_limit_and_one_over() {
    let cases: [(&str, usize, &MakeCase); 6] = [
        ("account name", 64, &|n| {
            (String::new(), format!("accountName: {n}"))
        }),
        ("NSG rule name", 80, &|n| {
            (String::new(), format!("Allow-App-Subnet!{n}"))
        }),
        ("private endpoint name", 64, &|n| {
            (
                format!("      privateEndpoint: {{name: {n}}}\n"),
                String::new(),
            )
        }),
        ("DNS zone group name", 80, &|n| {
            (
                format!("      dnsZoneGroup: {{name: {n}}}\n"),
                String::new(),
            )
        }),
        ("RAI policy name", 64, &|n| {
            (format!("      raiPolicy: {{name: {n}}}\n"), String::new())
        }),
        ("deployment name", 64, &|n| {
            (
                format!("      deployments:\n        declared:\n          {n}: {{model: gpt-4o, sku: Standard, capacity: 10}}\n"),
                String::new(),
            )
        }),
    ];
    for (what, max, make) in cases {
        for (len, ok) in [(max, true), (max + 1, false)] {
            let name = format!("a{}", "b".repeat(len - 1));
            let (controls, account) = make(&name);
            let edits = edit(&account);
            let out = load(&edits, &controls);
            let refused = out.contains(&format!("is not a valid {what}"));
            assert_eq!(refused, !ok, "{what} of {len} characters: {out}");
        }
        let (controls, account) = make("a%2Fb");
        let edits = edit(&account);
        let out = load(&edits, &controls);
        assert!(
            out.contains(&format!("`a%2Fb` is not a valid {what}")),
            "{what}: {out}"
        );
    }
}

#[test]
fn free_text_at_its_limit_and_one_over() {
    let description = "description: Chat application (inference only, no keys)";
    for (max, edit) in [
        (494, description.to_string()),
        (1024, "role: Cognitive Services OpenAI User".to_string()),
    ] {
        for (len, ok) in [(max, true), (max + 1, false)] {
            let key = edit.split(':').next().unwrap();
            let value = "x".repeat(len);
            let replaced = format!("{key}: {value}");
            let out = load(&[(edit.as_str(), replaced.as_str())], "");
            let refused = out.contains(&format!("too long: {len} characters, at most {max}"));
            assert_eq!(refused, !ok, "{key} of {len}: {out}");
        }
    }
    for (len, ok) in [(122, true), (123, false)] {
        let rule = format!(
            "            source: 10.10.1.0/24\n            description: {}",
            "d".repeat(len)
        );
        let out = load(&[("            source: 10.10.1.0/24", rule)], "");
        assert_eq!(
            out.contains("too long"),
            !ok,
            "NSG description of {len}: {out}"
        );
    }
    let out = load(&[(description, "description: \"line one\\nline two\"")], "");
    assert!(
        out.contains("contains the control character \\u{a}"),
        "{out}"
    );
}

#[test]
fn a_10_mb_description_is_refused_quickly_and_not_printed_back() {
    let description = "description: Chat application (inference only, no keys)";
    let huge = format!("description: {}", "d".repeat(10_000_000));
    let start = Instant::now();
    let mut text = std::fs::read_to_string("examples/quickstart.yaml")
        .unwrap()
        .replace("../blueprints/", "blueprints/");
    text = text.replacen(description, &huge, 1);
    let report = blueprint::load_str_with("fleet.yaml", &text, &options());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let out = report.diagnostics.to_string();
    assert!(
        out.contains("larger than 1048576 bytes"),
        "{}",
        &out[..out.len().min(500)]
    );
    assert!(out.len() < 1000, "{} bytes of diagnostics", out.len());
    // Below the file limit, the field's own limit refuses it, and does not echo it.
    let (message, _) = formats::check(Fmt::Description(122), &"d".repeat(10_000_000)).unwrap_err();
    assert_eq!(message, "too long: 10000000 characters, at most 122");
    let (message, _) = formats::check(
        Fmt::Name(formats::NameKind::Account),
        &"d".repeat(10_000_000),
    )
    .unwrap_err();
    assert!(message.len() < 400, "{} bytes", message.len());
}

#[test]
fn the_description_limits_leave_room_for_moats_marker() {
    let room = moat::resources::OWNER_MARKER.len() + 1;
    assert_eq!(formats::MAX_NSG_DESCRIPTION_CHARS + room, 140);
    assert_eq!(formats::MAX_ROLE_DESCRIPTION_CHARS + room, 512);
}
