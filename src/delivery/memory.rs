//! An in-memory transport for tests (as lettre's stub transport): replies
//! scripted per message, what was delivered kept in memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use lettre::address::Envelope;

use super::policy::Reply;
use super::transport::{Connector, Transport};

/// An in-memory transport for tests: replies are scripted per message
/// (in order, over all connections); once the script runs out, 250.
#[derive(Clone, Default)]
pub struct MemoryConnector {
    pub state: Arc<Mutex<MemoryState>>,
    pub timeout: Duration,
}

#[derive(Default)]
pub struct MemoryState {
    /// Replies for the coming messages, first first.
    pub script: std::collections::VecDeque<Reply>,
    /// `Some`: connecting fails with this error.
    pub refuse: Option<String>,
    /// (recipients, message) of every message answered 250.
    pub delivered: Vec<(Vec<String>, Vec<u8>)>,
    pub connections: usize,
}

struct MemoryTransport {
    state: Arc<Mutex<MemoryState>>,
    broken: bool,
}

impl Connector for MemoryConnector {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Transport>, String>> {
        Box::pin(async move {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = &st.refuse {
                return Err(e.clone());
            }
            st.connections += 1;
            Ok(Box::new(MemoryTransport {
                state: self.state.clone(),
                broken: false,
            }) as Box<dyn Transport>)
        })
    }

    fn describe(&self) -> String {
        "the in-memory test transport".into()
    }

    fn timeout(&self) -> Duration {
        self.timeout.max(Duration::from_millis(100))
    }
}

impl Transport for MemoryTransport {
    fn send<'a>(&'a mut self, envelope: &'a Envelope, bytes: &'a [u8]) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let reply = st
                .script
                .pop_front()
                .unwrap_or_else(|| Reply::Code(250, "OK".into()));
            if matches!(reply, Reply::Code(200..=299, _)) {
                let to = envelope.to().iter().map(|a| a.to_string()).collect();
                st.delivered.push((to, bytes.to_vec()));
            }
            if super::policy::reconnect(&reply) {
                self.broken = true;
            }
            reply
        })
    }

    fn is_usable(&self) -> bool {
        !self.broken
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
