//! ember: a terminal chat and coding assistant that runs GGUF models in-process through llama.cpp.
//!
//! Data flows one way: front ends (pipe mode, the TUI) send turns to the [`engine`] thread and
//! render the events it sends back. See `ARCHITECTURE.md`.

pub mod bench;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod edit;
pub mod engine;
pub mod info;
pub mod logging;
pub mod models;
pub mod pipe;
pub mod render;
pub mod roles;
pub mod store;
pub mod tui;
