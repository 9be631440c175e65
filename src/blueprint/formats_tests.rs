//! Unit tests of the blueprint's value formats (formats.rs).
use super::*;

#[test]
fn cidrs_ips_and_tags() {
    for ok in ["10.10.1.0/24", "0.0.0.0/0", "2001:db8::/32", "203.0.113.7"] {
        assert!(check(Fmt::IpOrCidr, ok).is_ok(), "{ok}");
    }
    for bad in ["10.10.1.0/33", "10.10.1/24", "10.10.1.0/", "300.1.1.1", "x"] {
        assert!(check(Fmt::IpOrCidr, bad).is_err(), "{bad}");
    }
    for ok in [
        "*",
        "VirtualNetwork",
        "Storage.EastUS",
        "AzureFrontDoor.Backend",
    ] {
        assert!(check(Fmt::AddressPrefix, ok).is_ok(), "{ok}");
    }
    let (_, hint) = check(Fmt::AddressPrefix, "VirtualNetwrk").unwrap_err();
    assert_eq!(
        hint.unwrap(),
        "did you mean the service tag `VirtualNetwork`?"
    );
}

#[test]
fn ports_guids_ids_dates() {
    assert!(check(Fmt::PortRange, "1024-65535").is_ok());
    assert!(check(Fmt::PortRange, "65536").is_err());
    assert!(check(Fmt::PortRange, "500-400").is_err());
    assert!(is_guid("9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a34"));
    assert!(!is_guid("9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a3"));
    let id = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/snet-pe";
    let (sub, rg, names) = parse_arm_id(id, ArmKind::Subnet).unwrap();
    assert_eq!(
        (sub.as_str(), rg.as_str()),
        ("6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10", "rg-network")
    );
    assert_eq!(names, ["vnet-prod", "snet-pe"]);
    assert!(parse_arm_id(id, ArmKind::Vnet).is_none());
    assert!(check(Fmt::Date, "2027-02-30").is_err());
    assert!(check(Fmt::Date, "2027-01-31").is_ok());
}

#[test]
fn suggestions_catch_typos_only() {
    assert_eq!(
        suggest("resourceGrup", &["resourceGroup", "location"]),
        Some("resourceGroup")
    );
    assert_eq!(suggest("zzzzzz", &["resourceGroup", "location"]), None);
}
