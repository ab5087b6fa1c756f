//! Turning model output into what a terminal shows: sanitizing, code-block detection, highlighting.

pub mod fence;
pub mod highlight;
pub mod markdown;
pub mod sanitize;
pub mod theme;
pub mod wrap;

pub use sanitize::sanitize;
