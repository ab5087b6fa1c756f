//! ember's pure modules, compiled from ember's own source files for fuzzing.
#![allow(dead_code, clippy::all)]

#[path = "../../src/render/mod.rs"]
pub mod render;

#[path = "../../src/models/gguf.rs"]
pub mod gguf;

#[path = "../../src/engine/template.rs"]
pub mod template;

#[path = "../../src/config/file.rs"]
pub mod config_file;
