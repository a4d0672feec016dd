//! Captured logs: every tracing event at TRACE, as text, so a test can check what was logged
//! (and that no key material was).

use std::io;
use std::sync::{Arc, Mutex};

/// A `Write` into a shared buffer; clones write into the same buffer.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A subscriber writing every event (TRACE and up, no colours) into `logs`; install it with
/// `tracing::subscriber::set_default` (this thread) or `set_global_default` (every task).
pub fn trace_into(logs: &LogBuffer) -> impl tracing::Subscriber + Send + Sync + 'static {
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
}
