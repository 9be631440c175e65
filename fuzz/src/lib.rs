//! The fuzz targets (also run by `tests/suite/security_input.rs` as a proptest, through `#[path]`)
//! and a small seeded mutational driver for the stable, libFuzzer-free harness binaries.
//!
//! A target returns normally for every input; a panic is a finding.

/// The blueprint loader on arbitrary bytes (as UTF-8, lossily: the loader takes text).
pub fn blueprint_loader(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match moat::blueprint::load_str("fuzz.yaml", &text) {
        Ok(bp) => {
            // Whatever loads is a usable blueprint: a digest and plannable instances.
            assert!(!bp.digest.is_empty(), "a blueprint without a digest");
            for i in &bp.instances {
                let _ = i.account_id();
            }
        }
        Err(diags) => {
            // Every rejection explains itself.
            assert!(!diags.0.is_empty(), "an error without diagnostics");
            let _ = diags.to_string();
        }
    }
}

/// The saved-plan loader on arbitrary bytes. A plan that loads must render in every format.
pub fn saved_plan(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(plan) = moat::render::json::load("fuzz-plan.json", &text) {
        let _ = moat::render::text::render(&plan, false);
        let _ = moat::render::markdown::render(&plan);
        let again = moat::render::json::render(&plan);
        // What moat writes, moat reads back.
        moat::render::json::load("again.json", &again).expect("a re-rendered plan loads");
    }
}

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Tokens that matter to YAML and JSON parsers, spliced in by the mutator.
pub const DICTIONARY: &[&str] = &[
    ":",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "&a ",
    "*a",
    "<<: ",
    "!!binary ",
    "!!str ",
    "|",
    ">",
    "#",
    "\n",
    "\n  ",
    "---\n",
    "...\n",
    "~",
    "null",
    "true",
    "1e999",
    "-0",
    "0x",
    "\\u0000",
    "\u{feff}",
    "%YAML 1.2\n",
    "? ",
    ",",
    "imports: [",
    "../",
    "version: 2",
    "exceptions:",
    "allows: ",
    "digest",
    "sha256:",
    "format_version",
    "\"plan\": ",
    "\"changes\": [",
];

/// One mutation of `input`: byte flips, deletions, duplications, dictionary splices, truncation.
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(16.min(len - i));
                v.drain(i..i + n);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(64.min(len - i));
                let chunk: Vec<u8> = v[i..i + n].to_vec();
                let at = rng.below(len);
                v.splice(at..at, chunk);
            }
            3 => {
                let tok = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                let at = rng.below(len + 1);
                v.splice(at..at, tok.iter().copied());
            }
            4 if len > 0 => v.truncate(rng.below(len)),
            5 => {
                let b = rng.next_u64() as u8;
                let at = rng.below(len + 1);
                v.insert(at, b);
            }
            _ => {
                // Nesting: wrap a slice in brackets many times.
                let depth = 1 + rng.below(40);
                let mut w = "[".repeat(depth).into_bytes();
                w.extend_from_slice(&v);
                w.extend_from_slice("]".repeat(depth).as_bytes());
                v = w;
            }
        }
    }
    v
}

/// Run `target` on the seeds and on mutations of them for `seconds`; returns the executions.
pub fn drive(seconds: f64, seed: u64, seeds: &[Vec<u8>], target: fn(&[u8])) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
    let mut rng = Rng::new(seed);
    let mut runs = 0u64;
    for s in seeds {
        target(s);
        runs += 1;
    }
    while std::time::Instant::now() < deadline {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base);
        if std::panic::catch_unwind(|| target(&input)).is_err() {
            // Keep the input that panicked (libFuzzer's crash-<n> convention) and fail.
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("crash-seed{seed}-{runs}"));
            let _ = std::fs::write(&path, &input);
            panic!("target panicked; input saved to {}", path.display());
        }
        runs += 1;
    }
    runs
}

/// Seed corpus: the repository's blueprints, or a saved plan rendered from the quickstart
/// fixtures (see the binaries).
pub fn read_dir_files(dir: &std::path::Path, ext: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == ext) {
                if let Ok(b) = std::fs::read(&p) {
                    out.push(b);
                }
            }
        }
    }
    out
}

/// `FUZZ_SECONDS` (default 10) and `FUZZ_SEED` (default 1) from the environment.
pub fn settings() -> (f64, u64) {
    let secs = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10.0);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    (secs, seed)
}
