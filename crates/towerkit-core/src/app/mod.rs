//! Two small apps every stack wants: a fixed answer and an environ dump.

mod echo;
mod text;

pub use echo::Echo;
pub use text::Text;
