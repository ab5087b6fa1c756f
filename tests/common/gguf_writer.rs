//! A small GGUF writer for test fixtures: real GGUF headers (metadata and tensor descriptions),
//! no tensor data. Shared by unit tests, integration tests and benches (`#[path]`).
#![allow(dead_code)]

use std::path::Path;

/// A metadata value to write.
#[derive(Debug, Clone)]
pub enum Value {
    U8(u8),
    U32(u32),
    U64(u64),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
    I32s(Vec<i32>),
}

/// A GGUF file being described.
#[derive(Debug, Clone, Default)]
pub struct Gguf {
    pub version: u32,
    pub kv: Vec<(String, Value)>,
    pub tensors: Vec<(String, Vec<u64>, u32)>,
}

impl Gguf {
    /// Version 3, no metadata, no tensors.
    pub fn new() -> Gguf {
        Gguf { version: 3, ..Gguf::default() }
    }

    /// A plausible model header: architecture, context length, file type, a size label and
    /// two tensors of `per_tensor` weights of ggml type `ggml_type`.
    pub fn model(arch: &str, context: u32, file_type: u32, ggml_type: u32, per_tensor: u64) -> Gguf {
        Gguf::new()
            .kv("general.architecture", Value::Str(arch.into()))
            .kv(&format!("{arch}.context_length"), Value::U32(context))
            .kv("general.file_type", Value::U32(file_type))
            .tensor("token_embd.weight", &[per_tensor], ggml_type)
            .tensor("output.weight", &[per_tensor / 4, 4], ggml_type)
    }

    /// Adds a metadata entry.
    pub fn kv(mut self, key: &str, value: Value) -> Gguf {
        self.kv.push((key.to_string(), value));
        self
    }

    /// Adds a tensor description.
    pub fn tensor(mut self, name: &str, dims: &[u64], ggml_type: u32) -> Gguf {
        self.tensors.push((name.to_string(), dims.to_vec(), ggml_type));
        self
    }

    /// The file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        fn put_str(out: &mut Vec<u8>, s: &str) {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(s.as_bytes());
        }
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.kv.len() as u64).to_le_bytes());
        for (key, value) in &self.kv {
            put_str(&mut out, key);
            match value {
                Value::U8(v) => {
                    out.extend(0u32.to_le_bytes());
                    out.push(*v);
                }
                Value::U32(v) => {
                    out.extend(4u32.to_le_bytes());
                    out.extend(v.to_le_bytes());
                }
                Value::I32(v) => {
                    out.extend(5u32.to_le_bytes());
                    out.extend(v.to_le_bytes());
                }
                Value::F32(v) => {
                    out.extend(6u32.to_le_bytes());
                    out.extend(v.to_le_bytes());
                }
                Value::Bool(v) => {
                    out.extend(7u32.to_le_bytes());
                    out.push(u8::from(*v));
                }
                Value::Str(s) => {
                    out.extend(8u32.to_le_bytes());
                    put_str(&mut out, s);
                }
                Value::Strs(items) => {
                    out.extend(9u32.to_le_bytes());
                    out.extend(8u32.to_le_bytes());
                    out.extend((items.len() as u64).to_le_bytes());
                    for s in items {
                        put_str(&mut out, s);
                    }
                }
                Value::I32s(items) => {
                    out.extend(9u32.to_le_bytes());
                    out.extend(5u32.to_le_bytes());
                    out.extend((items.len() as u64).to_le_bytes());
                    for v in items {
                        out.extend(v.to_le_bytes());
                    }
                }
                Value::U64(v) => {
                    out.extend(10u32.to_le_bytes());
                    out.extend(v.to_le_bytes());
                }
            }
        }
        let mut data_offset = 0u64;
        for (name, dims, ggml_type) in &self.tensors {
            put_str(&mut out, name);
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(ggml_type.to_le_bytes());
            out.extend(data_offset.to_le_bytes());
            data_offset += 32;
        }
        out
    }

    /// Writes the file, creating its folder.
    pub fn write(&self, path: &Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, self.bytes()).unwrap();
    }
}
