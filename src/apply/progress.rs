//! Progress reporting: a live line per instance on a terminal (indicatif), plain line-per-event
//! output for pipelines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::sanitize::clean;

/// What happened to a step (`request_id`: ARM's, when ARM answered the request that failed).
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    Waiting {
        gate: &'a str,
    },
    Writing,
    Done,
    Failed {
        error: &'a str,
        request_id: Option<&'a str>,
    },
    Skipped {
        because: &'a str,
    },
}

pub trait Progress: Send + Sync {
    fn event(&self, instance: &str, address: &str, event: Event<'_>);
    fn finish(&self) {}
}

/// Line per event on stderr, with the time since apply started.
pub struct Lines {
    start: Instant,
}

impl Lines {
    pub fn new() -> Lines {
        Lines {
            start: Instant::now(),
        }
    }
}

impl Default for Lines {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Lines {
    fn event(&self, _instance: &str, address: &str, event: Event<'_>) {
        let t = self.start.elapsed().as_secs_f64();
        let what = match event {
            Event::Waiting { gate } => format!("waiting for {gate}"),
            Event::Writing => "applying".into(),
            Event::Done => "done".into(),
            Event::Failed { error, .. } => format!("FAILED: {error}"),
            Event::Skipped { because } => format!("skipped: {because}"),
        };
        eprintln!("[{t:7.1}s] {}: {}", clean(address), clean(&what));
    }
}

/// No output (tests, `--quiet`).
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: &str, _: &str, _: Event<'_>) {}
}

/// One spinner line per instance, showing its current step.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Bars {
    fn event(&self, instance: &str, address: &str, event: Event<'_>) {
        let mut bars = self.bars.lock().expect("progress lock");
        let bar = bars.entry(instance.to_string()).or_insert_with(|| {
            let b = self.multi.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_prefix(clean(instance).into_owned());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        let address = clean(address);
        match event {
            Event::Waiting { gate } => {
                bar.set_message(format!("{address}: waiting for {}", clean(gate)))
            }
            Event::Writing => bar.set_message(format!("{address}: applying")),
            Event::Done => bar.set_message(format!("{address}: done")),
            Event::Failed { error, .. } => {
                let _ = self.multi.println(format!("✗ {address}: {}", clean(error)));
            }
            Event::Skipped { because } => {
                let _ = self
                    .multi
                    .println(format!("- {address}: skipped ({})", clean(because)));
            }
        }
    }

    fn finish(&self) {
        for b in self.bars.lock().expect("progress lock").values() {
            b.finish_and_clear();
        }
    }
}
