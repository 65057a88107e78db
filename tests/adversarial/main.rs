//! The adversarial suite: the server and its layers tried as an attacker
//! would, with real sockets against the real `towerkit` binary, each case
//! bounded in count and time.
//!
//! - `framing`: requests hidden in another's body (CL+TE, duplicate
//!   Content-Length, bad chunk sizes, obs-fold, bare LF) never served.
//! - `shutdown`: SIGTERM with endless event streams open, plain and
//!   gzipped.
//! - `slow`: clients that trickle a body, or stop reading a response,
//!   while the connection slots are all taken.
//! - `throttle`: password guessing: a parallel burst for one user, the
//!   owner from another address, long user names, users and addresses
//!   rotated against the global budget.

#[path = "../common/mod.rs"]
mod common;

mod framing;
mod shutdown;
mod slow;
mod store;
mod throttle;
