//! ARM's naming rules for the resources a blueprint names, and the length limits of its free
//! text, so a name ARM would refuse (or that would change the meaning of a URL: `%2F`, `?`, `#`)
//! is refused at load, with its position, before any request.
//!
//! Source: Microsoft, "Naming rules and restrictions for Azure resources",
//! <https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules>
//! (rows Microsoft.CognitiveServices/accounts, Microsoft.Network/virtualNetworks, …/subnets,
//! …/networkSecurityGroups, …/securityRules, …/privateEndpoints, …/privateDnsZones,
//! …/virtualNetworkLinks, Microsoft.OperationalInsights/workspaces,
//! Microsoft.ManagedIdentity/userAssignedIdentities, Microsoft.KeyVault/vaults,
//! Microsoft.Resources/resourcegroups and tagNames / tagValues). "Alphanumeric" there means ASCII
//! a-z, A-Z, 0-9. The page has no row for deployments, RAI policies, diagnostic settings and
//! private DNS zone groups: those, and moat's own names (profiles, instances), follow moat's
//! conservative rule (2-64 of `[A-Za-z0-9_.-]`, starting with a letter or digit), which every
//! name Azure itself gives them (`Microsoft.DefaultV2`, `default`, `gpt-4o`) satisfies.

/// A kind of name, each with ARM's rule for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// Profiles and instances: moat's own names, used in plan addresses.
    Moat,
    Account,
    Vnet,
    Subnet,
    Nsg,
    NsgRule,
    PrivateEndpoint,
    ZoneGroup,
    VnetLink,
    Deployment,
    RaiPolicy,
    DiagnosticSetting,
    Workspace,
    UserIdentity,
    KeyVault,
    /// Monitor action groups (moat's conservative subset of Azure's rule).
    ActionGroup,
    /// Key Vault secret names: 1-127 ASCII letters, digits and `-` (Key Vault's object names).
    KeyVaultSecret,
}

#[derive(Clone, Copy)]
enum End {
    Alnum,
    AlnumOrUnderscore,
    Any,
}

struct Rule {
    min: usize,
    max: usize,
    /// Allowed besides ASCII letters and digits.
    punct: &'static str,
    first_letter: bool,
    end: End,
    no_double_hyphen: bool,
}

const fn rule(min: usize, max: usize, punct: &'static str, end: End) -> Rule {
    Rule {
        min,
        max,
        punct,
        first_letter: false,
        end,
        no_double_hyphen: false,
    }
}

/// Microsoft.Network's rule for most of its resources.
const NETWORK: Rule = rule(1, 80, "_.-", End::AlnumOrUnderscore);
const MOAT: Rule = rule(2, 64, "_.-", End::Any);

impl NameKind {
    fn rule(self) -> Rule {
        match self {
            NameKind::Moat
            | NameKind::Deployment
            | NameKind::RaiPolicy
            | NameKind::DiagnosticSetting => MOAT,
            NameKind::Account => rule(2, 64, "-", End::Alnum),
            NameKind::Vnet | NameKind::PrivateEndpoint => {
                rule(2, 64, "_.-", End::AlnumOrUnderscore)
            }
            NameKind::Subnet | NameKind::Nsg | NameKind::NsgRule | NameKind::VnetLink => NETWORK,
            // Not in the table; the zone group is a Microsoft.Network child like the others.
            NameKind::ZoneGroup | NameKind::ActionGroup => NETWORK,
            NameKind::Workspace => rule(4, 63, "-", End::Alnum),
            NameKind::UserIdentity => rule(3, 128, "-_", End::Any),
            NameKind::KeyVault => Rule {
                first_letter: true,
                no_double_hyphen: true,
                ..rule(3, 24, "-", End::Alnum)
            },
            NameKind::KeyVaultSecret => rule(1, 127, "-", End::Any),
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            NameKind::Moat => "name",
            NameKind::Account => "account name",
            NameKind::Vnet => "virtual network name",
            NameKind::Subnet => "subnet name",
            NameKind::Nsg => "network security group name",
            NameKind::NsgRule => "NSG rule name",
            NameKind::PrivateEndpoint => "private endpoint name",
            NameKind::ZoneGroup => "DNS zone group name",
            NameKind::VnetLink => "VNet link name",
            NameKind::ActionGroup => "action group name",
            NameKind::Deployment => "deployment name",
            NameKind::RaiPolicy => "RAI policy name",
            NameKind::DiagnosticSetting => "diagnostic setting name",
            NameKind::Workspace => "workspace name",
            NameKind::UserIdentity => "identity name",
            NameKind::KeyVault => "key vault name",
            NameKind::KeyVaultSecret => "key vault secret name",
        }
    }

    pub fn is_valid(self, s: &str) -> bool {
        let r = self.rule();
        let ok = |b: u8| b.is_ascii_alphanumeric() || r.punct.as_bytes().contains(&b);
        let (Some(first), Some(last)) = (s.bytes().next(), s.bytes().last()) else {
            return false;
        };
        (r.min..=r.max).contains(&s.len())
            && s.bytes().all(ok)
            && if r.first_letter {
                first.is_ascii_alphabetic()
            } else {
                first.is_ascii_alphanumeric()
            }
            && match r.end {
                End::Alnum => last.is_ascii_alphanumeric(),
                End::AlnumOrUnderscore => last.is_ascii_alphanumeric() || last == b'_',
                End::Any => true,
            }
            && !(r.no_double_hyphen && s.contains("--"))
    }

    /// The rule in words, for hints.
    pub fn hint(self) -> String {
        let r = self.rule();
        let chars: Vec<String> = r.punct.chars().map(|c| format!("`{c}`")).collect();
        let start = if r.first_letter {
            "starting with a letter"
        } else {
            "starting with a letter or digit"
        };
        let end = match r.end {
            End::Alnum => ", ending with a letter or digit",
            End::AlnumOrUnderscore => ", ending with a letter, digit or `_`",
            End::Any => "",
        };
        let double = if r.no_double_hyphen { ", no `--`" } else { "" };
        format!(
            "{}-{} ASCII letters, digits, {}, {start}{end}{double}",
            r.min,
            r.max,
            chars.join(", ")
        )
    }

    /// JSON Schema pattern (lengths are `minLength` / `maxLength`).
    pub fn pattern(self) -> String {
        let r = self.rule();
        let punct: String = r.punct.chars().map(|c| format!("\\{c}")).collect();
        let first = if r.first_letter {
            "a-zA-Z"
        } else {
            "a-zA-Z0-9"
        };
        let last = match r.end {
            End::Alnum => "[a-zA-Z0-9]".to_string(),
            End::AlnumOrUnderscore => "[a-zA-Z0-9_]".to_string(),
            End::Any => format!("[a-zA-Z0-9{punct}]"),
        };
        format!("^[{first}]([a-zA-Z0-9{punct}]*{last})?$")
    }

    pub fn len_range(self) -> (usize, usize) {
        let r = self.rule();
        (r.min, r.max)
    }
}

/// Characters that change what an ARM URL means or that no id contains: `%` (an encoding such
/// as `%2F` would add a path segment once decoded), `?` and `#` (start a query or fragment),
/// whitespace and control characters. Refused anywhere in an id.
pub fn url_unsafe(s: &str) -> Option<char> {
    s.chars()
        .find(|c| matches!(c, '%' | '?' | '#') || c.is_whitespace() || c.is_control())
}

/// Free text that moat sends to ARM (descriptions) or shows in plans (reasons, model names):
/// at most this many characters unless ARM's own limit is lower. ARM documents no limit for
/// most of them; 1024 is moat's cap (the longest real reason in the examples is under 200).
pub const MAX_TEXT_CHARS: usize = 1024;
/// NSG rule `description`: ARM allows 140 characters, and moat appends ` [managed by moat]`
/// (18) to the rules it writes.
pub const MAX_NSG_DESCRIPTION_CHARS: usize = 140 - 18;
/// Role assignment `description`: Microsoft recommends at most 512 characters ("What are the
/// limits for a description?", Azure ABAC conditions FAQ), less moat's ` [managed by moat]`.
pub const MAX_ROLE_DESCRIPTION_CHARS: usize = 512 - 18;
/// Tag names: 1-512 characters, none of `<>%&\?/` (the naming rules' tagNames row).
pub const MAX_TAG_NAME_CHARS: usize = 512;
/// Tag values: 0-256 characters (tagValues row).
pub const MAX_TAG_VALUE_CHARS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_at_its_limits() {
        for (kind, min, max) in [
            (NameKind::Account, 2, 64),
            (NameKind::NsgRule, 1, 80),
            (NameKind::PrivateEndpoint, 2, 64),
            (NameKind::Workspace, 4, 63),
            (NameKind::UserIdentity, 3, 128),
            (NameKind::KeyVault, 3, 24),
            (NameKind::Deployment, 2, 64),
            (NameKind::KeyVaultSecret, 1, 127),
        ] {
            assert_eq!(kind.len_range(), (min, max));
            assert!(kind.is_valid(&"a".repeat(min)), "{kind:?}");
            assert!(kind.is_valid(&"a".repeat(max)), "{kind:?}");
            assert!(!kind.is_valid(&"a".repeat(max + 1)), "{kind:?}");
            if min > 1 {
                assert!(!kind.is_valid(&"a".repeat(min - 1)), "{kind:?}");
            }
            for bad in ["a%2Fb", "a?b", "a#b", "a b", "a\u{7}b", "a/b", "é1"] {
                assert!(!kind.is_valid(bad), "{kind:?} {bad:?}");
            }
        }
        assert!(!NameKind::Account.is_valid("contoso_openai"));
        assert!(!NameKind::Account.is_valid("contoso-"));
        assert!(NameKind::NsgRule.is_valid("Allow_"));
        assert!(!NameKind::NsgRule.is_valid("Allow."));
        assert!(!NameKind::KeyVault.is_valid("kv--contoso"));
        assert!(!NameKind::KeyVault.is_valid("1kv"));
        assert!(NameKind::RaiPolicy.is_valid("Microsoft.DefaultV2"));
        assert!(NameKind::KeyVaultSecret.is_valid("openai-key-"));
        assert!(!NameKind::KeyVaultSecret.is_valid("openai_key"));
    }
}
