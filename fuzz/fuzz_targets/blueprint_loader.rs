//! Fuzz `moat::blueprint::load_str` for `FUZZ_SECONDS` (stable, libFuzzer-free driver).
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seeds = moat_fuzz::read_dir_files(&root.join("examples"), "yaml");
    seeds.extend(moat_fuzz::read_dir_files(&root.join("blueprints"), "yaml"));
    seeds.extend(moat_fuzz::read_dir_files(
        &root.join("fuzz/corpus/blueprint_loader"),
        "yaml",
    ));
    assert!(!seeds.is_empty(), "no seed blueprints found");
    let (secs, seed) = moat_fuzz::settings();
    let runs = moat_fuzz::drive(secs, seed, &seeds, moat_fuzz::blueprint_loader);
    println!("fuzz blueprint_loader: {runs} inputs in {secs}s (seed {seed}), 0 panics");
}
