//! Reads the header of a GGUF file (metadata and tensor count) without touching tensor data.
//!
//! Used to tell a missing, foreign, or damaged model file apart before llama.cpp sees it, and to
//! describe models without loading them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// A metadata value. Arrays keep only their element type and length, except short string
/// arrays, which are small enough to keep.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Uint(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array { elem_type: u32, len: u64 },
}

impl MetaValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::Uint(v) => Some(v),
            MetaValue::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
}

/// The header of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    pub version: u32,
    pub tensor_count: u64,
    pub metadata: BTreeMap<String, MetaValue>,
}

impl GgufHeader {
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(MetaValue::as_str)
    }
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.metadata.get(key).and_then(MetaValue::as_u64)
    }
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }
    /// The context length the model was trained with.
    pub fn context_length(&self) -> Option<u64> {
        self.get_u64(&format!("{}.context_length", self.architecture()?))
    }
    pub fn chat_template(&self) -> Option<&str> {
        self.get_str("tokenizer.chat_template")
    }
}

/// Why a file is not a readable GGUF.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GgufError {
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    NotGguf(String),
    #[error("{0}")]
    Corrupt(String),
}

const MAX_STRING: u64 = 256 << 20;

struct Reader<R> {
    inner: R,
    offset: u64,
    file_len: u64,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf).map_err(|e| self.eof(what, e))?;
        self.offset += N as u64;
        Ok(buf)
    }
    fn eof(&self, what: &str, e: std::io::Error) -> GgufError {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof => GgufError::Corrupt(format!(
                "the file ends at byte {} in the middle of the header ({what})",
                self.file_len
            )),
            _ => GgufError::Io(e.to_string()),
        }
    }
    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.bytes::<4>(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.bytes::<8>(what)?))
    }
    fn skip(&mut self, n: u64, what: &str) -> Result<(), GgufError> {
        if self.offset.saturating_add(n) > self.file_len {
            return Err(GgufError::Corrupt(format!(
                "{what} at byte {} claims {n} bytes, past the end of the {}-byte file",
                self.offset, self.file_len
            )));
        }
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
            .map_err(|e| GgufError::Io(e.to_string()))?;
        self.offset += copied;
        if copied < n {
            return Err(self.eof(what, std::io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }
    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        if len > MAX_STRING || self.offset.saturating_add(len) > self.file_len {
            return Err(GgufError::Corrupt(format!(
                "{what} at byte {} claims a {len}-byte string in a {}-byte file",
                self.offset, self.file_len
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf).map_err(|e| self.eof(what, e))?;
        self.offset += len;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
    fn scalar_size(elem_type: u32) -> Option<u64> {
        match elem_type {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        }
    }
    fn value(&mut self, value_type: u32, key: &str) -> Result<MetaValue, GgufError> {
        Ok(match value_type {
            0 => MetaValue::Uint(u64::from(self.bytes::<1>(key)?[0])),
            1 => MetaValue::Int(i64::from(self.bytes::<1>(key)?[0] as i8)),
            2 => MetaValue::Uint(u64::from(u16::from_le_bytes(self.bytes::<2>(key)?))),
            3 => MetaValue::Int(i64::from(i16::from_le_bytes(self.bytes::<2>(key)?))),
            4 => MetaValue::Uint(u64::from(self.u32(key)?)),
            5 => MetaValue::Int(i64::from(i32::from_le_bytes(self.bytes::<4>(key)?))),
            6 => MetaValue::Float(f64::from(f32::from_le_bytes(self.bytes::<4>(key)?))),
            7 => MetaValue::Bool(self.bytes::<1>(key)?[0] != 0),
            8 => MetaValue::Str(self.string(key)?),
            9 => {
                let elem_type = self.u32(key)?;
                let len = self.u64(key)?;
                if len > self.file_len {
                    return Err(GgufError::Corrupt(format!("array {key} claims {len} elements")));
                }
                match (elem_type, Self::scalar_size(elem_type)) {
                    (_, Some(size)) => self.skip(len.saturating_mul(size), key)?,
                    (8, None) => {
                        for _ in 0..len {
                            let n = self.u64(key)?;
                            self.skip(n, key)?;
                        }
                    }
                    _ => return Err(GgufError::Corrupt(format!("array {key} has unknown element type {elem_type}"))),
                }
                MetaValue::Array { elem_type, len }
            }
            10 => MetaValue::Uint(self.u64(key)?),
            11 => MetaValue::Int(i64::from_le_bytes(self.bytes::<8>(key)?)),
            12 => MetaValue::Float(f64::from_le_bytes(self.bytes::<8>(key)?)),
            other => return Err(GgufError::Corrupt(format!("metadata {key} has unknown type {other}"))),
        })
    }
}

/// Reads the header of the GGUF file at `path`.
pub fn read_header(path: &Path) -> Result<GgufHeader, GgufError> {
    let file = File::open(path).map_err(|e| GgufError::Io(e.to_string()))?;
    let meta = file.metadata().map_err(|e| GgufError::Io(e.to_string()))?;
    if meta.is_dir() {
        return Err(GgufError::NotGguf("it is a directory".into()));
    }
    let file_len = meta.len();
    let mut r = Reader { inner: BufReader::with_capacity(1 << 16, file), offset: 0, file_len };
    if file_len < 4 {
        return Err(GgufError::NotGguf(format!("it is only {file_len} bytes long")));
    }
    let magic = r.bytes::<4>("magic")?;
    if &magic != b"GGUF" {
        return Err(GgufError::NotGguf(format!(
            "it starts with {:?}, a GGUF file starts with \"GGUF\"",
            String::from_utf8_lossy(&magic)
        )));
    }
    let version = r.u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Corrupt(format!("unsupported GGUF version {version}")));
    }
    let tensor_count = r.u64("tensor count")?;
    let kv_count = r.u64("metadata count")?;
    if kv_count > file_len || tensor_count > file_len {
        return Err(GgufError::Corrupt(format!(
            "the header claims {kv_count} metadata entries and {tensor_count} tensors in a {file_len}-byte file"
        )));
    }
    let mut metadata = BTreeMap::new();
    for _ in 0..kv_count {
        let key = r.string("metadata key")?;
        let value_type = r.u32(&key)?;
        let value = r.value(value_type, &key)?;
        metadata.insert(key, value);
    }
    Ok(GgufHeader { version, tensor_count, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Writes a small GGUF header: version 3, the given metadata, no tensors.
    pub fn tiny_gguf(kv: &[(&str, MetaValue)]) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.extend((kv.len() as u64).to_le_bytes());
        let put_str = |out: &mut Vec<u8>, s: &str| {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(s.as_bytes());
        };
        for (k, v) in kv {
            put_str(&mut out, k);
            match v {
                MetaValue::Str(s) => {
                    out.extend(8u32.to_le_bytes());
                    put_str(&mut out, s);
                }
                MetaValue::Uint(n) => {
                    out.extend(4u32.to_le_bytes());
                    out.extend((*n as u32).to_le_bytes());
                }
                _ => unreachable!("not needed by the tests"),
            }
        }
        out
    }

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn reads_metadata() {
        let bytes = tiny_gguf(&[
            ("general.architecture", MetaValue::Str("llama".into())),
            ("llama.context_length", MetaValue::Uint(8192)),
        ]);
        let f = write(&bytes);
        let h = read_header(f.path()).unwrap();
        assert_eq!(h.architecture(), Some("llama"));
        assert_eq!(h.context_length(), Some(8192));
    }

    #[test]
    fn foreign_and_truncated_files_are_told_apart() {
        let f = write(b"PK\x03\x04 this is a zip");
        assert!(matches!(read_header(f.path()), Err(GgufError::NotGguf(_))));
        let bytes = tiny_gguf(&[("general.architecture", MetaValue::Str("llama".into()))]);
        for cut in [6, 20, bytes.len() - 3] {
            let f = write(&bytes[..cut]);
            let err = read_header(f.path()).unwrap_err();
            assert!(matches!(err, GgufError::Corrupt(_)), "cut at {cut}: {err:?}");
        }
    }

    #[test]
    fn absurd_lengths_are_corrupt_not_allocations() {
        let mut bytes = tiny_gguf(&[]);
        bytes[16..24].copy_from_slice(&1u64.to_le_bytes());
        bytes.extend(u64::MAX.to_le_bytes());
        let f = write(&bytes);
        assert!(matches!(read_header(f.path()), Err(GgufError::Corrupt(_))));
    }
}
