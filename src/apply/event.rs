//! What apply reports about its steps, and the one interface every progress sink implements
//! (the terminal board, the pipeline log, and any other sink such as a JSON event stream).

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
    /// The steps apply is about to carry out, `(instance, address)`, before any event.
    fn start(&self, _steps: &[(&str, &str)]) {}
    fn event(&self, instance: &str, address: &str, event: Event<'_>);
    fn finish(&self) {}
}
