//! Addresses on 127.0.0.1 for servers a test starts.

use std::net::{SocketAddr, TcpListener};

/// An address nobody listens on (bound to an ephemeral port, then closed).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The port of `free_addr`.
pub fn free_port() -> u16 {
    free_addr().port()
}
