//! The bottom layer: small shared pieces that know nothing of Gazette's
//! domain and import nothing of ours but `error`. Each exists once.
//!
//! - [`text`]: slugs, line numbers of byte offsets, header-text cleaning,
//!   whitespace collapsing and blank-line squeezing.
//! - [`fs`]: atomic file writes and bounded reads of regular files.
//! - [`ids`]: random identifiers from the OS random source.
//! - [`time`]: duration and date parsing.
//! - [`net`]: IP address blocks (CIDR).
//! - [`http`]: the client of outgoing HTTP requests (rustls on ring).

pub mod fs;
pub mod http;
pub mod ids;
pub mod net;
pub mod text;
pub mod time;
