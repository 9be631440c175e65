//! Built-in Azure role definitions a blueprint may name, and which of them are privileged.
//!
//! GUIDs come from HARDENING.md's table (checked against ARM-PROTOCOL.md §2.9). Seed `002_*` labels
//! `a001fd3d-…` as "Cognitive Services Contributor"; that GUID is *Cognitive Services OpenAI
//! Contributor*, so the seed's list is deliberately not used.

/// (display name, role definition GUID)
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "Cognitive Services OpenAI User",
        "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    ),
    (
        "Cognitive Services OpenAI Contributor",
        "a001fd3d-188f-4b5d-821b-7da978bf7442",
    ),
    (
        "Cognitive Services User",
        "a97b65f3-24c7-4388-baec-2e87135dc908",
    ),
    (
        "Cognitive Services Contributor",
        "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68",
    ),
    (
        "Cognitive Services Usages Reader",
        "bba48692-92b0-4667-a9ad-c31c7b334ac2",
    ),
    ("Azure AI Developer", "64702f94-c441-49e6-a78b-ef80e0188fee"),
    ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
    ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
    ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
    (
        "User Access Administrator",
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    ),
];

/// Roles that can read keys, change network settings or grant access: Owner, Contributor,
/// User Access Administrator and Cognitive Services Contributor.
const PRIVILEGED: &[&str] = &[
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68",
];

/// The GUID of a built-in role by its exact display name (case-insensitive).
pub fn builtin_by_name(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(_, g)| *g)
}

/// The display name of a built-in role by GUID (case-insensitive).
pub fn name_of(guid: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(_, g)| g.eq_ignore_ascii_case(guid.trim()))
        .map(|(n, _)| *n)
}

/// Whether the role is one the least-privilege lint flags.
pub fn is_privileged(guid: &str) -> bool {
    PRIVILEGED
        .iter()
        .any(|g| g.eq_ignore_ascii_case(guid.trim()))
}

/// The role to suggest instead of a privileged one.
pub fn least_privilege_alternative(principal_type: &str) -> &'static str {
    if principal_type == "ServicePrincipal" {
        "Cognitive Services OpenAI User (applications) or Cognitive Services OpenAI Contributor (deployment automation)"
    } else {
        "Cognitive Services OpenAI User"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_guids_round_trip() {
        for (name, guid) in BUILTIN {
            assert_eq!(builtin_by_name(name), Some(*guid));
            assert_eq!(name_of(&guid.to_uppercase()), Some(*name));
        }
        assert_eq!(
            builtin_by_name("owner"),
            Some("8e3af657-a8ff-443c-a75c-2fe8c4bcb635")
        );
        assert_eq!(builtin_by_name("Cognitive Services Admin"), None);
    }

    #[test]
    fn the_seed_mislabel_is_not_privileged() {
        // a001fd3d is OpenAI Contributor (automation), not Cognitive Services Contributor.
        assert!(!is_privileged("a001fd3d-188f-4b5d-821b-7da978bf7442"));
        assert!(is_privileged("25FBC0A9-BD7C-42A3-AA1A-3B75D497EE68"));
        assert!(is_privileged(builtin_by_name("Owner").unwrap()));
        assert!(!is_privileged(builtin_by_name("Reader").unwrap()));
    }
}
