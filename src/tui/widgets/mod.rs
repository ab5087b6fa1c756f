//! Widgets: props in, lines out. Each is tested by snapshot.

pub mod code_pane;
pub mod diff_view;
pub mod help;
pub mod status;
