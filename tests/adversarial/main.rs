//! The adversarial suite: the server and its layers tried as an attacker
//! would, with real sockets against the real `towerkit` binary, each case
//! bounded in count and time.
//!
//! - `slow`: clients that trickle a body, or stop reading a response,
//!   while the connection slots are all taken.

#[path = "../common/mod.rs"]
mod common;

mod slow;
