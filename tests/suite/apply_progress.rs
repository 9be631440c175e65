//! Terminal progress of a long apply: the board (src/apply/board.rs) driven by a scripted
//! sequence of events with a fake clock and drawn at fixed widths, as a recorded transcript; and
//! `moat apply` on a pseudo-terminal against an emulator whose operations take seconds, where
//! the live lines must show the counts and the elapsed time of the running operation.

use std::time::Duration;

use moat::apply::board::{elapsed, fit, Board};
use moat::apply::Event;

fn s(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

const STEPS: [(&str, &str); 5] = [
    ("prod", "prod/account"),
    ("prod", "prod/private-endpoint"),
    ("prod", "prod/public-network-access"),
    ("dev", "dev/account"),
    ("dev", "dev/private-endpoint"),
];

/// The scripted apply: prod's endpoint takes 65 s; dev finishes early, with one failure.
fn scripted() -> Vec<(f64, &'static str, &'static str, Event<'static>)> {
    vec![
        (0.0, "prod", "prod/account", Event::Writing),
        (0.0, "dev", "dev/account", Event::Writing),
        (2.0, "prod", "prod/account", Event::Done),
        (2.0, "prod", "prod/private-endpoint", Event::Writing),
        (3.0, "dev", "dev/account", Event::Done),
        (
            3.0,
            "dev",
            "dev/private-endpoint",
            Event::Waiting {
                gate: "account dev Succeeded",
            },
        ),
        (4.5, "dev", "dev/private-endpoint", Event::Writing),
        (
            9.0,
            "dev",
            "dev/private-endpoint",
            Event::Failed {
                error:
                    "error: PUT …/privateEndpoints/pe-dev failed: 400 InvalidSubnet\n  Caused by: x",
                request_id: None,
            },
        ),
        (67.0, "prod", "prod/private-endpoint", Event::Done),
        (
            67.0,
            "prod",
            "prod/public-network-access",
            Event::Waiting {
                gate: "private endpoint pe-prod Approved with DNS records",
            },
        ),
        (70.0, "prod", "prod/public-network-access", Event::Writing),
        (71.0, "prod", "prod/public-network-access", Event::Done),
    ]
}

/// Replay the script, drawing a frame (settled lines, then live lines) at each of `frames`.
fn transcript(width: usize, frames: &[f64]) -> Vec<(f64, Vec<String>, Vec<String>)> {
    let mut board = Board::new();
    board.start(&STEPS);
    let mut out = Vec::new();
    let mut events = scripted().into_iter().peekable();
    for &t in frames {
        while let Some((at, i, a, e)) = events.next_if(|(at, ..)| *at <= t) {
            board.event(i, a, &e, s(at));
        }
        let settled = board.take_settled(width, s(t), false);
        out.push((t, settled, board.live(width, s(t))));
    }
    let end = board.take_settled(width, s(80.0), true);
    out.push((80.0, end, board.live(width, s(80.0))));
    out
}

fn frame_at(t: &[(f64, Vec<String>, Vec<String>)], at: f64) -> &(f64, Vec<String>, Vec<String>) {
    t.iter().find(|(x, ..)| *x == at).unwrap()
}

#[test]
fn live_lines_show_each_instance_step_state_counts_and_elapsed() {
    let t = transcript(160, &[1.0, 3.5, 10.0, 40.0, 68.5, 72.0]);
    let (_, settled, live) = frame_at(&t, 1.0);
    assert!(settled.is_empty());
    assert_eq!(
        live,
        &vec![
            "~ prod [0/3] 1.0s account: applying".to_string(),
            "~ dev [0/2] 1.0s account: applying".to_string(),
            "  0/5 steps, 2 running, 0 failed, 1.0s".to_string(),
        ]
    );
    let (_, _, live) = frame_at(&t, 3.5);
    assert_eq!(live[0], "~ prod [1/3] 1.5s private-endpoint: applying");
    assert_eq!(
        live[1],
        "~ dev [1/2] 0.5s private-endpoint: waiting for account dev Succeeded"
    );
    // dev failed at 9 s: the failure is printed once, then dev settles to a static line.
    let (_, settled, live) = frame_at(&t, 10.0);
    assert!(
        settled[0].starts_with("✗ dev/private-endpoint: error: PUT"),
        "{settled:?}"
    );
    assert!(
        settled[0].contains("\n  Caused by: x"),
        "errors keep their lines"
    );
    assert_eq!(settled[1], "✗ dev [2/2] 1 failed in 9.0s");
    assert_eq!(
        live,
        &vec![
            "~ prod [1/3] 8.0s private-endpoint: applying".to_string(),
            "  3/5 steps, 1 running, 1 failed, 10.0s".to_string(),
        ]
    );
    // The elapsed time is the running operation's, in minutes once it passes one.
    let (_, settled, live) = frame_at(&t, 68.5);
    assert!(settled.is_empty(), "a settled line is printed once");
    assert_eq!(
        live[0],
        "~ prod [2/3] 1.5s public-network-access: waiting for private endpoint pe-prod Approved with DNS records"
    );
    let (_, settled, live) = frame_at(&t, 40.0);
    assert!(settled.is_empty());
    assert_eq!(live[0], "~ prod [1/3] 38.0s private-endpoint: applying");
    let (_, settled, live) = frame_at(&t, 72.0);
    assert_eq!(settled, &vec!["✓ prod [3/3] done in 1m 11s".to_string()]);
    assert!(
        live.is_empty(),
        "no live line (no spinner) once everything settled"
    );
    let (_, end, _) = frame_at(&t, 80.0);
    assert!(end.is_empty(), "finish prints nothing twice");
}

#[test]
fn lines_are_cut_to_the_terminal_width_not_a_fixed_80() {
    for width in [30, 52, 120, 200] {
        for (_, settled, live) in transcript(width, &[1.0, 3.5, 10.0, 68.5, 72.0]) {
            for l in &live {
                assert!(l.chars().count() < width, "{width}: {l:?}");
            }
            for l in settled.iter().filter(|l| !l.starts_with("✗ dev/")) {
                assert!(l.chars().count() < width, "{width}: {l:?}");
            }
        }
    }
    let wide = transcript(200, &[68.5]);
    assert!(
        wide[0].2[0].ends_with("Approved with DNS records"),
        "a wide terminal shows the whole line: {:?}",
        wide[0].2
    );
    let narrow = transcript(52, &[68.5]);
    assert_eq!(narrow[0].2[0].chars().count(), 51);
    assert!(narrow[0].2[0].ends_with('…'), "{:?}", narrow[0].2);
}

#[test]
fn an_interrupted_apply_settles_what_did_not_finish() {
    let mut board = Board::new();
    board.start(&STEPS[..3]);
    board.event("prod", "prod/account", &Event::Writing, s(0.0));
    board.event("prod", "prod/account", &Event::Done, s(5.0));
    let end = board.take_settled(80, s(6.0), true);
    assert_eq!(end, vec!["✗ prod [1/3] 2 not started in 6.0s".to_string()]);
    assert!(board.live(80, s(7.0)).is_empty());
}

#[test]
fn elapsed_and_fit_formats() {
    assert_eq!(elapsed(s(0.42)), "0.4s");
    assert_eq!(elapsed(s(59.9)), "59.9s");
    assert_eq!(elapsed(s(65.0)), "1m 05s");
    assert_eq!(elapsed(s(3725.0)), "1h 02m");
    assert_eq!(fit("abcdef", 80), "abcdef");
    assert_eq!(fit("abcdefghijkl", 10), "abcdefgh…");
}

#[test]
fn an_instance_with_steps_in_parallel_shows_the_one_running_longest() {
    let mut board = Board::new();
    board.start(&STEPS[..3]);
    board.event("prod", "prod/private-endpoint", &Event::Writing, s(1.0));
    board.event("prod", "prod/account", &Event::Writing, s(4.0));
    assert_eq!(
        board.live(80, s(6.0))[0],
        "~ prod [0/3] 5.0s private-endpoint: applying (+1 more)"
    );
    // A step that goes from waiting to writing starts its clock again.
    board.event("prod", "prod/private-endpoint", &Event::Done, s(7.0));
    board.event(
        "prod",
        "prod/public-network-access",
        &Event::Waiting { gate: "endpoint" },
        s(7.0),
    );
    board.event(
        "prod",
        "prod/public-network-access",
        &Event::Writing,
        s(9.0),
    );
    assert_eq!(
        board.live(80, s(9.5))[0],
        "~ prod [1/3] 5.5s account: applying (+1 more)"
    );
}
