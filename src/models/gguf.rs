//! Reads the header of a GGUF file (metadata and tensor descriptions) without touching tensor
//! data.
//!
//! Used to tell a missing, foreign, or damaged model file apart before llama.cpp sees it, and to
//! describe models without loading them. Every length in the file is checked against the file's
//! size before anything is allocated, so a truncated or hostile file is an error, never a huge
//! allocation or a panic.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// A metadata value. Arrays keep their element type, length and where their elements start in
/// the file (see [`read_string_items`]); the elements themselves are skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Uint(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array { elem_type: u32, len: u64, offset: u64 },
}

impl MetaValue {
    /// The value when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The value when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::Uint(v) => Some(v),
            MetaValue::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    /// The value when it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::Uint(v) => Some(v as f64),
            MetaValue::Int(v) => Some(v as f64),
            MetaValue::Float(v) => Some(v),
            _ => None,
        }
    }
}

/// What the tensor descriptions add up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorSummary {
    /// Total number of weights (elements) over all tensors.
    pub parameters: u64,
    /// Elements per ggml tensor type (`GGML_TYPE_*`).
    pub elements_by_type: BTreeMap<u32, u64>,
}

impl TensorSummary {
    /// The ggml type holding the most weights (ties: the lower type id).
    pub fn dominant_type(&self) -> Option<u32> {
        self.elements_by_type.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(t, _)| *t)
    }
}

/// The header of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    pub version: u32,
    pub tensor_count: u64,
    pub metadata: BTreeMap<String, MetaValue>,
    pub tensors: TensorSummary,
}

impl GgufHeader {
    /// A string value.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(MetaValue::as_str)
    }
    /// A non-negative integer value.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.metadata.get(key).and_then(MetaValue::as_u64)
    }
    /// A numeric value.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.metadata.get(key).and_then(MetaValue::as_f64)
    }
    /// An architecture-specific value: `{arch}.{key}`.
    pub fn arch_u64(&self, key: &str) -> Option<u64> {
        self.get_u64(&format!("{}.{key}", self.architecture()?))
    }
    /// `general.architecture`: llama, gemma3, qwen2, ...
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }
    /// The context length the model was trained with.
    pub fn context_length(&self) -> Option<u64> {
        self.arch_u64("context_length")
    }
    /// The Jinja chat template, when the model has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.get_str("tokenizer.chat_template")
    }
    /// The quantisation: `general.file_type` by llama.cpp's name for it (Q4_K_M), else the
    /// ggml type holding most of the weights (Q4_K).
    pub fn quantisation(&self) -> Option<String> {
        if let Some(name) = self.get_u64("general.file_type").and_then(file_type_name) {
            return Some(name.to_string());
        }
        self.tensors.dominant_type().map(|t| ggml_type_name(t).map_or_else(|| format!("type {t}"), str::to_string))
    }
    /// The number of weights: counted from the tensor descriptions.
    pub fn parameter_count(&self) -> Option<u64> {
        (self.tensors.parameters > 0).then_some(self.tensors.parameters)
    }
    /// The vocabulary size: `{arch}.vocab_size`, else the length of the token list.
    pub fn vocab_size(&self) -> Option<u64> {
        self.arch_u64("vocab_size").or_else(|| match self.metadata.get("tokenizer.ggml.tokens") {
            Some(MetaValue::Array { len, .. }) => Some(*len),
            _ => None,
        })
    }
}

/// llama.cpp's name for a `general.file_type` (`LLAMA_FTYPE_MOSTLY_*`).
pub fn file_type_name(file_type: u64) -> Option<&'static str> {
    // Bit 10 marks a type llama.cpp guessed rather than read.
    Some(match file_type & !1024 {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        _ => return None,
    })
}

/// ggml's name for a tensor type (`GGML_TYPE_*`).
pub fn ggml_type_name(ggml_type: u32) -> Option<&'static str> {
    Some(match ggml_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        40 => "NVFP4",
        41 => "Q1_0",
        42 => "Q2_0",
        _ => return None,
    })
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

/// The longest metadata string kept (chat templates are tens of kilobytes).
const MAX_STRING: u64 = 16 << 20;
/// The longest key or tensor name (the GGUF specification allows 65,535 bytes).
const MAX_NAME: u64 = 1 << 16;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;

struct Reader {
    inner: BufReader<File>,
    offset: u64,
    file_len: u64,
}

impl Reader {
    fn open(path: &Path) -> Result<Reader, GgufError> {
        let file = File::open(path).map_err(|e| GgufError::Io(e.to_string()))?;
        let meta = file.metadata().map_err(|e| GgufError::Io(e.to_string()))?;
        if meta.is_dir() {
            return Err(GgufError::NotGguf("it is a directory".into()));
        }
        Ok(Reader { inner: BufReader::with_capacity(1 << 16, file), offset: 0, file_len: meta.len() })
    }
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
    /// Fails unless `n` more bytes fit in the file.
    fn fits(&self, n: u64, what: &str) -> Result<(), GgufError> {
        if self.offset.saturating_add(n) > self.file_len {
            return Err(GgufError::Corrupt(format!(
                "{what} at byte {} claims {n} bytes, past the end of the {}-byte file",
                self.offset, self.file_len
            )));
        }
        Ok(())
    }
    fn skip(&mut self, n: u64, what: &str) -> Result<(), GgufError> {
        self.fits(n, what)?;
        let step = i64::try_from(n).map_err(|_| GgufError::Corrupt(format!("{what} claims {n} bytes")))?;
        self.inner.seek_relative(step).map_err(|e| GgufError::Io(e.to_string()))?;
        self.offset += n;
        Ok(())
    }
    fn string_with_limit(&mut self, what: &str, limit: u64) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        if len > limit {
            return Err(GgufError::Corrupt(format!(
                "{what} at byte {} claims a {len}-byte string (at most {limit} expected)",
                self.offset
            )));
        }
        self.fits(len, what)?;
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf).map_err(|e| self.eof(what, e))?;
        self.offset += len;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        self.string_with_limit(what, MAX_STRING)
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
                let offset = self.offset;
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
                MetaValue::Array { elem_type, len, offset }
            }
            10 => MetaValue::Uint(self.u64(key)?),
            11 => MetaValue::Int(i64::from_le_bytes(self.bytes::<8>(key)?)),
            12 => MetaValue::Float(f64::from_le_bytes(self.bytes::<8>(key)?)),
            other => return Err(GgufError::Corrupt(format!("metadata {key} has unknown type {other}"))),
        })
    }
    /// One tensor description: adds its element count to `summary`; the data is not read.
    fn tensor_info(&mut self, summary: &mut TensorSummary) -> Result<(), GgufError> {
        let name = self.string_with_limit("tensor name", MAX_NAME)?;
        let n_dims = self.u32(&name)?;
        if n_dims > MAX_DIMS {
            return Err(GgufError::Corrupt(format!("tensor {name} claims {n_dims} dimensions (at most {MAX_DIMS})")));
        }
        let mut elements: u64 = 1;
        for _ in 0..n_dims {
            let dim = self.u64(&name)?;
            elements = elements
                .checked_mul(dim)
                .ok_or_else(|| GgufError::Corrupt(format!("tensor {name} has an impossible shape")))?;
        }
        let ggml_type = self.u32(&name)?;
        let _data_offset = self.u64(&name)?;
        summary.parameters = summary.parameters.saturating_add(elements);
        let slot = summary.elements_by_type.entry(ggml_type).or_insert(0);
        *slot = slot.saturating_add(elements);
        Ok(())
    }
}

/// Reads the header of the GGUF file at `path`: metadata and tensor descriptions.
pub fn read_header(path: &Path) -> Result<GgufHeader, GgufError> {
    let mut r = Reader::open(path)?;
    let file_len = r.file_len;
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
        let key = r.string_with_limit("metadata key", MAX_NAME)?;
        let value_type = r.u32(&key)?;
        let value = r.value(value_type, &key)?;
        metadata.insert(key, value);
    }
    let mut tensors = TensorSummary::default();
    for _ in 0..tensor_count {
        r.tensor_info(&mut tensors)?;
    }
    Ok(GgufHeader { version, tensor_count, metadata, tensors })
}

/// Just checks the four-byte GGUF magic at the start of `path`.
pub fn has_magic(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"GGUF"
}

/// The longest token text kept by [`read_string_items`].
const MAX_ITEM: u64 = 1 << 16;

/// Reads the elements at `indices` of the string array `key` (the token list, say) from the file
/// the header came from. Elements out of range are left out; other elements are skipped unread.
pub fn read_string_items(
    path: &Path,
    header: &GgufHeader,
    key: &str,
    indices: &[u64],
) -> Result<BTreeMap<u64, String>, GgufError> {
    let (len, offset) = match header.metadata.get(key) {
        Some(MetaValue::Array { elem_type: 8, len, offset }) => (*len, *offset),
        _ => return Ok(BTreeMap::new()),
    };
    let last = match indices.iter().filter(|&&i| i < len).max() {
        Some(&last) => last,
        None => return Ok(BTreeMap::new()),
    };
    let mut r = Reader::open(path)?;
    r.inner.seek(SeekFrom::Start(offset)).map_err(|e| GgufError::Io(e.to_string()))?;
    r.offset = offset;
    let mut out = BTreeMap::new();
    for i in 0..=last {
        if indices.contains(&i) {
            out.insert(i, r.string_with_limit(key, MAX_ITEM)?);
        } else {
            let n = r.u64(key)?;
            r.skip(n, key)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "../../tests/common/gguf_writer.rs"]
mod writer;

#[cfg(test)]
mod tests {
    use super::writer::{Gguf, Value};
    use super::*;
    use std::io::{Seek, Write};

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    fn llama() -> Gguf {
        Gguf::new().kv("general.architecture", Value::Str("llama".into())).kv("llama.context_length", Value::U32(8192))
    }

    #[test]
    fn reads_metadata() {
        let f = write(&llama().bytes());
        let h = read_header(f.path()).unwrap();
        assert_eq!(h.architecture(), Some("llama"));
        assert_eq!(h.context_length(), Some(8192));
    }

    #[test]
    fn quantisation_and_parameters_come_from_file_type_and_tensors() {
        let g = Gguf::model("qwen2", 32768, 15, 12, 1000).tensor("blk.0.attn_norm.weight", &[10], 0);
        let h = read_header(write(&g.bytes()).path()).unwrap();
        assert_eq!(h.quantisation().as_deref(), Some("Q4_K_M"));
        assert_eq!(h.parameter_count(), Some(2010));
        assert_eq!(h.tensors.dominant_type(), Some(12));
        // No file type: the type holding most weights.
        let g = llama().tensor("a", &[100, 3], 8).tensor("b", &[7], 0);
        let h = read_header(write(&g.bytes()).path()).unwrap();
        assert_eq!(h.quantisation().as_deref(), Some("Q8_0"));
        // A guessed file type (bit 10) is still named.
        assert_eq!(file_type_name(1024 + 3), Some("Q4_1"));
    }

    #[test]
    fn string_items_are_read_by_index() {
        let tokens: Vec<String> = (0..50).map(|i| format!("tok{i}")).collect();
        let g =
            llama().kv("tokenizer.ggml.tokens", Value::Strs(tokens)).kv("tokenizer.ggml.eos_token_id", Value::U32(42));
        let f = write(&g.bytes());
        let h = read_header(f.path()).unwrap();
        assert_eq!(h.vocab_size(), Some(50));
        let items = read_string_items(f.path(), &h, "tokenizer.ggml.tokens", &[42, 3, 999]).unwrap();
        assert_eq!(items.get(&42).map(String::as_str), Some("tok42"));
        assert_eq!(items.get(&3).map(String::as_str), Some("tok3"));
        assert!(!items.contains_key(&999));
    }

    #[test]
    fn foreign_and_truncated_files_are_told_apart() {
        let f = write(b"PK\x03\x04 this is a zip");
        assert!(matches!(read_header(f.path()), Err(GgufError::NotGguf(_))));
        let bytes = Gguf::model("llama", 2048, 2, 2, 64).bytes();
        // Every cut, in the metadata or in the tensor descriptions, is a clear error.
        for cut in 4..bytes.len() {
            let f = write(&bytes[..cut]);
            let err = read_header(f.path()).unwrap_err();
            assert!(matches!(err, GgufError::Corrupt(_)), "cut at {cut}: {err:?}");
        }
    }

    #[test]
    fn damaged_bytes_anywhere_are_errors_or_values_never_panics() {
        let tokens: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let bytes = Gguf::model("llama", 4096, 15, 12, 256)
            .kv("tokenizer.ggml.tokens", Value::Strs(tokens))
            .kv("tokenizer.ggml.eos_token_id", Value::U32(7))
            .kv("tokenizer.chat_template", Value::Str("{{ x }}".into()))
            .bytes();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for at in 0..bytes.len() {
            for value in [0x00, 0xff] {
                let mut damaged = bytes.clone();
                damaged[at] = value;
                f.as_file_mut().set_len(0).unwrap();
                f.as_file_mut().rewind().unwrap();
                f.write_all(&damaged).unwrap();
                if let Ok(h) = read_header(f.path()) {
                    let ids: Vec<u64> = (0..30).collect();
                    let _ = read_string_items(f.path(), &h, "tokenizer.ggml.tokens", &ids);
                    let _ = (h.quantisation(), h.parameter_count(), h.vocab_size(), h.context_length());
                }
            }
        }
    }

    #[test]
    fn absurd_lengths_are_corrupt_not_allocations() {
        let mut bytes = Gguf::new().bytes();
        bytes[16..24].copy_from_slice(&1u64.to_le_bytes());
        bytes.extend(u64::MAX.to_le_bytes());
        let f = write(&bytes);
        assert!(matches!(read_header(f.path()), Err(GgufError::Corrupt(_))));
        // A tensor with too many dimensions, and one whose shape overflows.
        for dims in [vec![1u64; 5], vec![u64::MAX, 3]] {
            let g = llama().tensor("t", &dims, 0);
            let err = read_header(write(&g.bytes()).path()).unwrap_err();
            assert!(matches!(err, GgufError::Corrupt(_)), "{dims:?}: {err:?}");
        }
        // A 100 MB string claimed in a small file.
        let mut bytes = Gguf::new().kv("k", Value::Str("v".into())).bytes();
        let at = bytes.len() - 9;
        bytes[at..at + 8].copy_from_slice(&(100u64 << 20).to_le_bytes());
        assert!(matches!(read_header(write(&bytes).path()), Err(GgufError::Corrupt(_))));
    }
}
