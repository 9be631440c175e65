//! `moat schema`: the JSON Schema accepts every shipped blueprint and rejects structural
//! mistakes, so editors flag them as the user types.

use moat::blueprint::{self, yaml};

fn as_json(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    yaml::parse(path, &text).unwrap().to_json()
}

fn validator() -> jsonschema::Validator {
    let schema = blueprint::json_schema();
    jsonschema::draft7::new(&schema).expect("the schema itself is valid draft-07")
}

#[test]
fn every_shipped_blueprint_validates_against_the_schema() {
    let v = validator();
    let mut checked = 0;
    for dir in ["blueprints", "examples"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "yaml") {
                continue;
            }
            let doc = as_json(p.to_str().unwrap());
            let errors: Vec<String> = v
                .iter_errors(&doc)
                .map(|e| format!("{} at {}", e, e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
            checked += 1;
        }
    }
    assert!(checked >= 5);
}

#[test]
fn the_schema_rejects_what_validate_rejects_structurally() {
    let v = validator();
    let base = as_json("examples/quickstart.yaml");
    let mutations: Vec<(&str, serde_json::Value)> = vec![
        ("/instances/0/resourceGrup", serde_json::json!("rg")),
        (
            "/instances/0/controls/nsg/rules/Allow-App-Subnet/priority",
            serde_json::json!(5000),
        ),
        ("/instances/0/subscription", serde_json::json!("not-a-guid")),
        ("/instances/0/kind", serde_json::json!("OpenAi")),
        ("/instances/0/createIfMissing", serde_json::json!("yes")),
        ("/version", serde_json::json!(2)),
    ];
    for (pointer, value) in mutations {
        let mut doc = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        doc.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(key.to_string(), value);
        assert!(!v.is_valid(&doc), "{pointer} should be rejected");
    }
    assert!(v.is_valid(&base));
}

#[test]
fn the_schema_documents_defaults_and_arm_properties() {
    let s = blueprint::json_schema().to_string();
    assert!(s.contains("properties.disableLocalAuth"));
    assert!(s.contains("\"x-moat-default\":\"moat-security\""));
    assert!(s.contains("draft-07"));
}
