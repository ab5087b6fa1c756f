//! What a found model is, read from its GGUF header: architecture, size, quantisation, context.

use std::path::PathBuf;

use super::discover::{Found, Source};
use super::gguf::{self, GgufHeader};

/// One model as `ember models` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub source: Source,
    /// A Hugging Face repository, or LM Studio's `publisher/repo`.
    pub origin: Option<String>,
    pub path: PathBuf,
    /// How many files the model is split into (1 for most).
    pub parts: usize,
    /// Bytes on disk, all parts together.
    pub size: u64,
    pub architecture: Option<String>,
    /// Weights, counted from the tensor descriptions.
    pub parameters: Option<u64>,
    /// `general.size_label` (`135M`, `8x7B`), when the file has one.
    pub size_label: Option<String>,
    pub quantisation: Option<String>,
    pub context_length: Option<u64>,
    /// Why the header could not be read, when it could not.
    pub error: Option<String>,
}

impl ModelInfo {
    /// The parameter count for people: the file's size label, else the counted weights (`1.2B`).
    pub fn params_text(&self) -> Option<String> {
        self.size_label.clone().or_else(|| self.parameters.map(format_count))
    }
}

/// Reads what ember shows about `found` from its header(s). A damaged file is still described,
/// with `error` set.
pub fn describe(found: &Found) -> ModelInfo {
    let mut info = blank(found);
    match gguf::read_header(&found.path) {
        Ok(header) => {
            fill(&mut info, &header);
            // A split model's weights are spread over its parts.
            for part in found.parts.iter().skip(1) {
                match gguf::read_header(part) {
                    Ok(h) => info.parameters = Some(info.parameters.unwrap_or(0) + h.tensors.parameters),
                    Err(e) => info.error = Some(format!("{}: {e}", part.display())),
                }
            }
        }
        Err(e) => info.error = Some(e.to_string()),
    }
    info
}

/// `found` with its size on disk, nothing read yet.
fn blank(found: &Found) -> ModelInfo {
    ModelInfo {
        name: found.name.clone(),
        source: found.source,
        origin: found.origin.clone(),
        path: found.path.clone(),
        parts: found.parts.len().max(1),
        size: found.parts.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum(),
        architecture: None,
        parameters: None,
        size_label: None,
        quantisation: None,
        context_length: None,
        error: None,
    }
}

fn fill(info: &mut ModelInfo, header: &GgufHeader) {
    info.architecture = header.architecture().map(str::to_string);
    info.parameters = header.parameter_count();
    info.size_label = header.get_str("general.size_label").filter(|s| !s.is_empty()).map(str::to_string);
    info.quantisation = header.quantisation();
    info.context_length = header.context_length();
}

/// Describes every model, reading headers on a few threads (the work is mostly waiting on the
/// disk). The order of `found` is kept.
pub fn describe_all(found: &[Found]) -> Vec<ModelInfo> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let chunk = found.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = found
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(describe).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .zip(found.chunks(chunk))
            // A panicking reader thread (it should not) still leaves its models listed, undescribed.
            .flat_map(|(h, part)| h.join().unwrap_or_else(|_| part.iter().map(undescribed).collect()))
            .collect()
    })
}

fn undescribed(found: &Found) -> ModelInfo {
    let mut info = blank(found);
    info.error = Some("could not be read".into());
    info
}

/// `134515008` → `135M`, `1235814400` → `1.2B`.
pub fn format_count(n: u64) -> String {
    let n = n as f64;
    let (value, unit) = match n {
        n if n >= 1e12 => (n / 1e12, "T"),
        n if n >= 1e9 => (n / 1e9, "B"),
        n if n >= 1e6 => (n / 1e6, "M"),
        n if n >= 1e3 => (n / 1e3, "K"),
        n => return format!("{n}"),
    };
    if value >= 100.0 {
        format!("{value:.0}{unit}")
    } else {
        format!("{value:.1}{unit}")
    }
}

/// `103154400` → `103.2 MB` (decimal units, as download pages show them).
pub fn format_bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n} B"),
    }
}

/// `8192` → `8K`, `131072` → `128K`; other values as they are.
pub fn format_context(n: u64) -> String {
    if n >= 1024 && n % 1024 == 0 {
        format!("{}K", n / 1024)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_like_download_pages() {
        assert_eq!(format_count(134_515_008), "135M");
        assert_eq!(format_count(1_235_814_400), "1.2B");
        assert_eq!(format_count(70_553_706_496), "70.6B");
        assert_eq!(format_count(512), "512");
        assert_eq!(format_bytes(103_154_400), "103.2 MB");
        assert_eq!(format_bytes(4_920_000_000), "4.9 GB");
        assert_eq!(format_context(8192), "8K");
        assert_eq!(format_context(131_072), "128K");
        assert_eq!(format_context(2000), "2000");
    }
}
