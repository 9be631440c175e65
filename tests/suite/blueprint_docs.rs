//! docs/blueprint.md's field reference is the validator's shape description, rendered; and the
//! documented output format is the one `moat validate` prints.

const BEGIN: &str = "<!-- BEGIN GENERATED REFERENCE -->\n";
const END: &str = "<!-- END GENERATED REFERENCE -->";

#[test]
fn the_field_reference_matches_the_code() {
    let path = "docs/blueprint.md";
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let generated = moat::blueprint::markdown_reference();
    if std::env::var_os("MOAT_BLESS").is_some() {
        let updated = format!("{}{generated}{}", &doc[..start], &doc[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    assert_eq!(
        &doc[start..end],
        generated,
        "run MOAT_BLESS=1 cargo test --test suite blueprint_docs::"
    );
}

#[test]
fn every_field_and_exception_is_documented() {
    let doc = std::fs::read_to_string("docs/blueprint.md").unwrap();
    for kind in moat::blueprint::schema::ExceptionKind::NAMES {
        assert!(
            doc.contains(&format!("| `{kind}` |")),
            "exception {kind} is not in the table"
        );
    }
    for control in moat::blueprint::schema::CONTROLS.fields {
        assert!(
            doc.contains(&format!("{}:", control.name)),
            "no example for control {}",
            control.name
        );
    }
    for row in [
        "**N1", "**N2", "**N3", "**N4", "**N5", "**N6", "**I1", "**I2", "**I3", "**I4", "**D1",
        "**M1", "**C1", "**C2",
    ] {
        assert!(doc.contains(row), "HARDENING row {row} is not shown");
    }
}
