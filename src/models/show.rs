//! `ember show`: everything a model's header says about it.

use std::fmt::Write as _;

use super::discover::Found;
use super::gguf::{self, GgufError, GgufHeader, MetaValue};
use super::info::{self, ModelInfo};

/// A special token: its role, id, and text from the token list.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpecialToken {
    /// `bos`, `eos`, `eot`, `eom`, `pad`, `unk`, `sep`, `mask`.
    pub role: &'static str,
    pub id: u64,
    pub text: Option<String>,
}

/// What `ember show` prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Details {
    #[serde(flatten)]
    pub info: ModelInfo,
    pub gguf_version: u32,
    pub tensor_count: u64,
    pub general_name: Option<String>,
    pub vocab_size: Option<u64>,
    pub embedding_length: Option<u64>,
    pub layers: Option<u64>,
    pub heads: Option<u64>,
    pub heads_kv: Option<u64>,
    pub rope_freq_base: Option<f64>,
    pub rope_dimensions: Option<u64>,
    pub rope_scaling: Option<String>,
    pub rope_scaling_factor: Option<f64>,
    pub license: Option<String>,
    pub author: Option<String>,
    pub organization: Option<String>,
    pub tokenizer: Option<String>,
    pub chat_template: Option<String>,
    pub special_tokens: Vec<SpecialToken>,
}

const SPECIAL: [(&str, &str); 8] = [
    ("bos", "bos_token_id"),
    ("eos", "eos_token_id"),
    ("eot", "eot_token_id"),
    ("eom", "eom_token_id"),
    ("pad", "padding_token_id"),
    ("unk", "unknown_token_id"),
    ("sep", "seperator_token_id"),
    ("mask", "mask_token_id"),
];

/// Reads the details of `found` from its header. Only the token list entries of the special
/// tokens are read, not the whole list.
pub fn details(found: &Found) -> Result<Details, GgufError> {
    let header = gguf::read_header(&found.path)?;
    let info = info::describe(found);
    let mut special: Vec<SpecialToken> = SPECIAL
        .iter()
        .filter_map(|(role, key)| {
            let id = header.get_u64(&format!("tokenizer.ggml.{key}"))?;
            Some(SpecialToken { role, id, text: None })
        })
        .collect();
    let ids: Vec<u64> = special.iter().map(|t| t.id).collect();
    let texts = gguf::read_string_items(&found.path, &header, "tokenizer.ggml.tokens", &ids)?;
    for token in &mut special {
        token.text = texts.get(&token.id).cloned();
    }
    let text = |key: &str| header.get_str(key).filter(|s| !s.is_empty()).map(str::to_string);
    let arch_f64 = |key: &str| header.architecture().and_then(|a| header.get_f64(&format!("{a}.{key}")));
    let arch_str = |key: &str| header.architecture().and_then(|a| text(&format!("{a}.{key}")));
    Ok(Details {
        gguf_version: header.version,
        tensor_count: header.tensor_count,
        general_name: text("general.name"),
        vocab_size: header.vocab_size(),
        embedding_length: header.arch_u64("embedding_length"),
        layers: header.arch_u64("block_count"),
        heads: head_count(&header, "attention.head_count"),
        heads_kv: head_count(&header, "attention.head_count_kv"),
        rope_freq_base: arch_f64("rope.freq_base"),
        rope_dimensions: header.arch_u64("rope.dimension_count"),
        rope_scaling: arch_str("rope.scaling.type"),
        rope_scaling_factor: arch_f64("rope.scaling.factor"),
        license: text("general.license"),
        author: text("general.author"),
        organization: text("general.organization"),
        tokenizer: text("tokenizer.ggml.model"),
        chat_template: header.chat_template().map(str::to_string),
        special_tokens: special,
        info,
    })
}

/// A head count: a number, or (per layer) an array whose length is shown as "varies".
fn head_count(header: &GgufHeader, key: &str) -> Option<u64> {
    let arch = header.architecture()?;
    match header.metadata.get(&format!("{arch}.{key}"))? {
        MetaValue::Array { .. } => None,
        v => v.as_u64(),
    }
}

/// The details as text for people. The caller sanitizes it for a terminal.
pub fn text(d: &Details) -> String {
    let i = &d.info;
    let mut rows: Vec<(&str, String)> = Vec::new();
    let mut row = |label: &'static str, value: Option<String>| {
        if let Some(v) = value {
            rows.push((label, v));
        }
    };
    row("path", Some(i.path.display().to_string()));
    let origin = i.origin.as_deref().map(|o| format!(" ({o})")).unwrap_or_default();
    row("source", Some(format!("{}{origin}", i.source)));
    let parts = if i.parts > 1 { format!(" in {} parts", i.parts) } else { String::new() };
    row("size", Some(format!("{} ({} bytes){parts}", info::format_bytes(i.size), i.size)));
    row("name", d.general_name.clone());
    row("architecture", i.architecture.clone());
    row(
        "parameters",
        i.parameters.map(|n| match &i.size_label {
            Some(label) => format!("{label} ({n} counted)"),
            None => format!("{} ({n})", info::format_count(n)),
        }),
    );
    row("quantisation", i.quantisation.clone());
    row("context length", i.context_length.map(|n| n.to_string()));
    row("embedding length", d.embedding_length.map(|n| n.to_string()));
    row("layers", d.layers.map(|n| n.to_string()));
    row(
        "attention heads",
        d.heads.map(|h| match d.heads_kv {
            Some(kv) if kv != h => format!("{h} ({kv} for keys and values)"),
            _ => h.to_string(),
        }),
    );
    row("vocabulary", d.vocab_size.map(|n| n.to_string()));
    row("tokenizer", d.tokenizer.clone());
    row("rope", rope(d));
    row("license", d.license.clone());
    row("author", d.author.clone());
    row("organization", d.organization.clone());
    row("gguf", Some(format!("version {}, {} tensors", d.gguf_version, d.tensor_count)));
    let width = 16;
    let mut out = format!("{}\n", i.name);
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<width$}  {value}");
    }
    special_tokens_section(&mut out, d);
    chat_template_section(&mut out, d);
    out
}

/// RoPE's frequency base, dimensions and scaling, where the metadata has them.
fn rope(d: &Details) -> Option<String> {
    let mut rope = Vec::new();
    if let Some(base) = d.rope_freq_base {
        rope.push(format!("freq base {base}"));
    }
    if let Some(dims) = d.rope_dimensions {
        rope.push(format!("{dims} dimensions"));
    }
    if let Some(scaling) = &d.rope_scaling {
        let factor = d.rope_scaling_factor.map(|f| format!(" x{f}")).unwrap_or_default();
        rope.push(format!("scaling {scaling}{factor}"));
    }
    (!rope.is_empty()).then(|| rope.join(", "))
}

/// The special tokens: role, id and text.
fn special_tokens_section(out: &mut String, d: &Details) {
    out.push_str("\nspecial tokens\n");
    if d.special_tokens.is_empty() {
        out.push_str("  (none in the metadata)\n");
    }
    for t in &d.special_tokens {
        let text = t.text.as_deref().map_or_else(|| "(not in the token list)".to_string(), |s| format!("{s:?}"));
        let _ = writeln!(out, "  {:<4}  {:>6}  {text}", t.role, t.id);
    }
}

/// The chat template as written in the file.
fn chat_template_section(out: &mut String, d: &Details) {
    match &d.chat_template {
        Some(template) => {
            out.push_str("\nchat template\n");
            out.push_str(template);
            if !template.ends_with('\n') {
                out.push('\n');
            }
        }
        None => out.push_str("\nchat template\n  (none: ember uses a plain transcript, or pass --template NAME)\n"),
    }
}
