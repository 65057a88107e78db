//! Small apps every stack wants: a fixed answer, an environ dump, and a
//! health endpoint for load balancers.

mod echo;
mod health;
mod text;

pub use echo::Echo;
pub use health::{Check, Health, Readiness};
pub use text::Text;
