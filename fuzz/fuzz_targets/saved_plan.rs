//! Fuzz `moat::render::json::load` for `FUZZ_SECONDS` (stable, libFuzzer-free driver). Seeds: the
//! corpus directory plus plans rendered from the repository's examples (planned against nothing:
//! every resource absent).
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seeds = moat_fuzz::read_dir_files(&root.join("fuzz/corpus/saved_plan"), "json");
    for name in ["quickstart.yaml", "greenfield.yaml", "fleet.yaml"] {
        if let Ok(bp) = moat::blueprint::load(&root.join("examples").join(name)) {
            let observed = moat::observe::Observed {
                instances: bp
                    .instances
                    .iter()
                    .map(|i| moat::observe::ObservedInstance {
                        name: i.name.clone(),
                        ..Default::default()
                    })
                    .collect(),
            };
            let plan = moat::plan::plan(&bp, &observed);
            seeds.push(moat::render::json::render(&plan).into_bytes());
        }
    }
    assert!(!seeds.is_empty(), "no seed plans");
    let (secs, seed) = moat_fuzz::settings();
    let runs = moat_fuzz::drive(secs, seed, &seeds, moat_fuzz::saved_plan);
    println!("fuzz saved_plan: {runs} inputs in {secs}s (seed {seed}), 0 panics");
}
