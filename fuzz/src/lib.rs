//! ember's pure modules, compiled from ember's own source files for fuzzing.
#![allow(dead_code, clippy::all)]

#[path = "../../src/render/mod.rs"]
pub mod render;

#[path = "../../src/models/gguf.rs"]
pub mod gguf;

#[path = "../../src/engine/message.rs"]
pub mod message;

#[path = "../../src/engine/template/mod.rs"]
pub mod template;

/// What the config file's parser reads from the engine.
pub mod engine {
    pub use super::template::Reasoning;
}

#[path = "../../src/config/file.rs"]
pub mod config_file;
