//! Progress reporting: a live line per instance on a terminal ([`Live`], drawing a
//! [`Board`]), the timestamped line-per-event log for pipelines ([`Lines`]), nothing
//! ([`Silent`]). Apply only calls the [`Progress`] trait, so other sinks (a JSON event stream)
//! sit beside these.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::board::Board;
pub use super::event::{Event, Progress};
use crate::sanitize::clean;

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

/// The live board on a terminal: one line per instance (step, state, done/total, elapsed time
/// of the running operation), redrawn in place a few times a second and cut to the terminal's
/// width; an instance that finishes settles to a static line above the live ones. The board
/// itself is plain data ([`Board`]); this owns the clock and the cursor.
pub struct Live {
    shared: Arc<Shared>,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Shared {
    start: Instant,
    stop: AtomicBool,
    state: Mutex<Drawn>,
}

struct Drawn {
    board: Board,
    /// Live lines on screen below the settled ones (the cursor is under the last).
    lines: usize,
}

/// How often the live lines are redrawn (elapsed times tick on their own).
const TICK: Duration = Duration::from_millis(200);

impl Live {
    pub fn new() -> Live {
        let shared = Arc::new(Shared {
            start: Instant::now(),
            stop: AtomicBool::new(false),
            state: Mutex::new(Drawn {
                board: Board::new(),
                lines: 0,
            }),
        });
        let s = shared.clone();
        let ticker = std::thread::Builder::new()
            .name("moat-progress".into())
            .spawn(move || {
                while !s.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(TICK);
                    s.draw(false);
                }
            })
            .ok();
        Live {
            shared,
            ticker: Mutex::new(ticker),
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Shared {
    fn draw(&self, all: bool) {
        use std::io::Write;
        let mut st = self.state.lock().expect("progress lock");
        let now = self.start.elapsed();
        let width = terminal_width();
        let mut out = String::new();
        if st.lines > 0 {
            // Back to the first live line, and clear from there down.
            out.push_str(&format!("\x1b[{}A\r\x1b[J", st.lines));
        }
        for l in st.board.take_settled(width, now, all) {
            out.push_str(&l);
            out.push('\n');
        }
        let live = if all {
            Vec::new()
        } else {
            st.board.live(width, now)
        };
        for l in &live {
            out.push_str(l);
            out.push('\n');
        }
        st.lines = live.len();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

impl Progress for Live {
    fn start(&self, steps: &[(&str, &str)]) {
        self.shared
            .state
            .lock()
            .expect("progress lock")
            .board
            .start(steps);
        self.shared.draw(false);
    }

    fn event(&self, instance: &str, address: &str, event: Event<'_>) {
        let now = self.shared.start.elapsed();
        let mut st = self.shared.state.lock().expect("progress lock");
        st.board.event(instance, address, &event, now);
    }

    fn finish(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.ticker.lock().expect("progress lock").take() {
            let _ = t.join();
        }
        self.shared.draw(true);
    }
}

/// Columns of the terminal on stderr (`COLUMNS`, then 80, when it cannot be asked).
pub fn terminal_width() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: TIOCGWINSZ fills the winsize it is given and touches nothing else.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
        if ok && ws.ws_col > 0 {
            return usize::from(ws.ws_col);
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|c| *c > 0)
        .unwrap_or(80)
}
