//! Turning model output into what a terminal shows: sanitizing, code-block detection, highlighting.

pub mod fence;
pub mod highlight;
pub mod markdown;
pub mod sanitize;
pub mod wrap;

pub use sanitize::sanitize;
