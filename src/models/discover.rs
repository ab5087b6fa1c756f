//! Finding the GGUF models already on this machine: ember's models folder and where other tools
//! keep theirs (the Hugging Face hub cache, llama.cpp's cache, LM Studio, Ollama).
//!
//! Finding only looks at folder entries and Ollama's small manifest files; reading the GGUF
//! headers is [`describe`](super::info::describe)'s job.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a model was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// ember's own models folder.
    Ember,
    /// The Hugging Face hub cache (`huggingface-cli download`, transformers, ...).
    HuggingFace,
    /// llama.cpp's download cache (`llama-cli -hf ...`).
    LlamaCpp,
    /// LM Studio's models folder.
    LmStudio,
    /// Ollama's blob store, named by its manifests.
    Ollama,
    /// A file given by its path, outside the places above.
    File,
}

impl Source {
    /// The short name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Source::Ember => "ember",
            Source::HuggingFace => "huggingface",
            Source::LlamaCpp => "llama.cpp",
            Source::LmStudio => "lm-studio",
            Source::Ollama => "ollama",
            Source::File => "file",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The folders searched, by source. Injectable, so tests search fixture trees.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    pub ember: PathBuf,
    pub huggingface: Vec<PathBuf>,
    pub llama_cpp: Vec<PathBuf>,
    pub lm_studio: Vec<PathBuf>,
    pub ollama: Vec<PathBuf>,
}

impl Roots {
    /// Only ember's models folder.
    pub fn ember_only(models_dir: &Path) -> Roots {
        Roots { ember: models_dir.to_path_buf(), ..Roots::default() }
    }

    /// The usual places, from this process's environment and home folder.
    pub fn from_env(models_dir: &Path) -> Roots {
        let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
        Roots::from_vars(models_dir, home.as_deref(), |name| std::env::var_os(name))
    }

    /// The usual places given a home folder and a way to read environment variables:
    /// `HF_HUB_CACHE`, `HF_HOME`, `XDG_CACHE_HOME`, `LLAMA_CACHE`, `OLLAMA_MODELS`.
    pub fn from_vars(models_dir: &Path, home: Option<&Path>, var: impl Fn(&str) -> Option<OsString>) -> Roots {
        let var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let under_home = |rel: &str| home.map(|h| h.join(rel));
        let cache = var("XDG_CACHE_HOME").or_else(|| under_home(".cache"));
        let huggingface = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
            .or_else(|| cache.as_ref().map(|c| c.join("huggingface/hub")));
        let mut llama_cpp: Vec<PathBuf> =
            var("LLAMA_CACHE").or_else(|| cache.as_ref().map(|c| c.join("llama.cpp"))).into_iter().collect();
        if cfg!(target_os = "macos") {
            llama_cpp.extend(under_home("Library/Caches/llama.cpp"));
        }
        let lm_studio =
            [".lmstudio/models", ".cache/lm-studio/models"].iter().filter_map(|rel| under_home(rel)).collect();
        let ollama = match var("OLLAMA_MODELS") {
            Some(dir) => vec![dir],
            // The Linux install script runs the service as user `ollama` with this home.
            None => under_home(".ollama/models")
                .into_iter()
                .chain([PathBuf::from("/usr/share/ollama/.ollama/models")])
                .collect(),
        };
        Roots {
            ember: models_dir.to_path_buf(),
            huggingface: huggingface.into_iter().collect(),
            llama_cpp,
            lm_studio,
            ollama,
        }
    }

    /// Every folder, with its source, in search order.
    pub fn all(&self) -> Vec<(Source, &Path)> {
        let mut out = vec![(Source::Ember, self.ember.as_path())];
        for (source, dirs) in [
            (Source::HuggingFace, &self.huggingface),
            (Source::LlamaCpp, &self.llama_cpp),
            (Source::LmStudio, &self.lm_studio),
            (Source::Ollama, &self.ollama),
        ] {
            out.extend(dirs.iter().map(|d| (source, d.as_path())));
        }
        out
    }

    /// "Looked in" lines for messages: each folder, and whether it exists.
    pub fn looked_in(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .map(|(source, dir)| {
                let missing = if dir.is_dir() { "" } else { "  (not there)" };
                format!("{:<12} {}{missing}", source.label(), dir.display())
            })
            .collect()
    }
}

/// A model file found on disk (its header not yet read).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// What to call it: the file name without `.gguf` (and without a split suffix), or Ollama's
    /// `NAME:TAG`.
    pub name: String,
    pub source: Source,
    /// Where it came from within the source: a Hugging Face repository or LM Studio's
    /// `publisher/repo`.
    pub origin: Option<String>,
    /// The file as found (a split model's first part).
    pub path: PathBuf,
    /// Every part of a split model (`-00001-of-00003`), in order; just `path` otherwise.
    pub parts: Vec<PathBuf>,
}

impl Found {
    /// The file name of `path`.
    pub fn file_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// Most entries looked at under one folder: a runaway tree is cut short, never walked forever.
const MAX_ENTRIES: usize = 100_000;
/// Ollama manifests are a few hundred bytes.
const MAX_MANIFEST: u64 = 1 << 20;

/// Finds the models under `roots`, ember's first. The same file reached twice (a symlink, an
/// overlapping folder) is listed once.
pub fn find(roots: &Roots) -> Vec<Found> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (source, root) in roots.all() {
        let found = match source {
            Source::Ollama => ollama(root),
            Source::HuggingFace => hub(root, source),
            Source::LlamaCpp => {
                // Newer llama.cpp keeps the hub layout; older ones flat files.
                let mut v = hub(root, source);
                v.extend(tree(root, root, source, 2, &|p| {
                    p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("models--"))
                }));
                v
            }
            Source::Ember | Source::LmStudio | Source::File => tree(root, root, source, 3, &|_| false),
        };
        for f in found {
            let key = std::fs::canonicalize(&f.path).unwrap_or_else(|_| f.path.clone());
            if seen.insert(key) {
                out.push(f);
            }
        }
    }
    out
}

fn is_gguf(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        && !path.file_name().is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().starts_with("mmproj"))
}

/// `Name-00001-of-00003` → (`Name`, 1, 3).
pub fn split_part(stem: &str) -> Option<(&str, u32, u32)> {
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (base, index) = rest.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(count) {
        return None;
    }
    Some((base, index.parse().ok()?, count.parse().ok()?))
}

/// A GGUF file as a [`Found`], or `None` for a second or later part of a split model.
fn found_file(path: &Path, source: Source, origin: Option<String>) -> Option<Found> {
    let file = path.file_name()?.to_string_lossy().into_owned();
    let stem = file.get(..file.len() - 5).unwrap_or(&file).to_string();
    let (name, parts) = match split_part(&stem) {
        Some((_, index, _)) if index > 1 => return None,
        Some((base, _, count)) => {
            let dir = path.parent().unwrap_or(Path::new(""));
            let ext = &file[file.len() - 5..];
            let parts = (1..=count)
                .map(|i| dir.join(format!("{base}-{i:05}-of-{count:05}{ext}")))
                .take_while(|p| p.exists())
                .collect();
            (base.to_string(), parts)
        }
        None => (stem, vec![path.to_path_buf()]),
    };
    Some(Found { name, source, origin, path: path.to_path_buf(), parts })
}

/// GGUF files under `dir`, at most `depth` folders down, in name order. `skip` prunes folders.
fn tree(root: &Path, dir: &Path, source: Source, depth: usize, skip: &dyn Fn(&Path) -> bool) -> Vec<Found> {
    let mut out = Vec::new();
    let mut budget = MAX_ENTRIES;
    walk(dir, depth, &mut budget, &mut |path| {
        if skip(path) {
            return false;
        }
        if is_gguf(path) && path.is_file() {
            let origin = match source {
                Source::LmStudio => path
                    .parent()
                    .and_then(|p| p.strip_prefix(root).ok())
                    .map(|p| p.to_string_lossy().into_owned())
                    .filter(|p| !p.is_empty()),
                _ => None,
            };
            out.extend(found_file(path, source, origin));
        }
        true
    });
    out
}

/// Visits the entries under `dir` in name order, descending into folders `visit` accepts.
fn walk(dir: &Path, depth: usize, budget: &mut usize, visit: &mut dyn FnMut(&Path) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).take(*budget).collect();
    *budget = budget.saturating_sub(paths.len());
    paths.sort();
    for path in paths {
        let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !visit(&path) || hidden {
            continue;
        }
        if depth > 0 && *budget > 0 && path.is_dir() {
            walk(&path, depth - 1, budget, visit);
        }
    }
}

/// The Hugging Face hub layout: `models--ORG--NAME/snapshots/REVISION/**/*.gguf` (symlinks into
/// `blobs/`).
fn hub(root: &Path, source: Source) -> Vec<Found> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else { return out };
    let mut repos: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).take(MAX_ENTRIES).collect();
    repos.sort();
    for repo in repos {
        let Some(dir_name) = repo.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        let Some(id) = dir_name.strip_prefix("models--") else { continue };
        let origin = id.replacen("--", "/", 1);
        let Ok(snapshots) = std::fs::read_dir(repo.join("snapshots")) else { continue };
        let mut revisions: Vec<PathBuf> = snapshots.filter_map(Result::ok).map(|e| e.path()).collect();
        revisions.sort();
        for revision in revisions {
            out.extend(
                tree(&revision, &revision, source, 3, &|_| false)
                    .into_iter()
                    .map(|f| Found { origin: Some(origin.clone()), ..f }),
            );
        }
    }
    out
}

/// Ollama: `manifests/REGISTRY/NAMESPACE/NAME/TAG` JSON files whose layer of media type
/// `application/vnd.ollama.image.model` names the GGUF blob `blobs/sha256-HEX`.
fn ollama(root: &Path) -> Vec<Found> {
    let manifests = root.join("manifests");
    let mut files = Vec::new();
    let mut budget = MAX_ENTRIES;
    walk(&manifests, 3, &mut budget, &mut |path| {
        let rel_depth = path.strip_prefix(&manifests).map(|p| p.components().count()).unwrap_or(0);
        if rel_depth == 4 && path.is_file() {
            files.push(path.to_path_buf());
        }
        true
    });
    files
        .into_iter()
        .filter_map(|manifest| {
            let rel = manifest.strip_prefix(&manifests).ok()?;
            let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            let [registry, namespace, model, tag] = parts.as_slice() else { return None };
            let name = match (registry.as_str(), namespace.as_str()) {
                ("registry.ollama.ai", "library") => format!("{model}:{tag}"),
                ("registry.ollama.ai", _) => format!("{namespace}/{model}:{tag}"),
                _ => format!("{registry}/{namespace}/{model}:{tag}"),
            };
            let blob = root.join("blobs").join(model_blob(&manifest)?);
            blob.is_file().then(|| Found {
                name,
                source: Source::Ollama,
                origin: None,
                path: blob.clone(),
                parts: vec![blob],
            })
        })
        .collect()
}

/// The blob file name (`sha256-HEX`) of a manifest's model layer. Only a well-formed digest is
/// accepted, so a manifest cannot point outside the blob folder.
fn model_blob(manifest: &Path) -> Option<String> {
    if std::fs::metadata(manifest).ok()?.len() > MAX_MANIFEST {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).ok()?).ok()?;
    let layer = json
        .get("layers")?
        .as_array()?
        .iter()
        .find(|l| l.get("mediaType").and_then(|m| m.as_str()) == Some("application/vnd.ollama.image.model"))?;
    let hex = layer.get("digest")?.as_str()?.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("sha256-{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_parse() {
        assert_eq!(split_part("Qwen-7B-Q4_K_M-00001-of-00003"), Some(("Qwen-7B-Q4_K_M", 1, 3)));
        assert_eq!(split_part("model-1-of-3"), None);
        assert_eq!(split_part("plain"), None);
    }

    #[test]
    fn environment_moves_the_roots() {
        let vars = |name: &str| match name {
            "HF_HOME" => Some(OsString::from("/hf")),
            "LLAMA_CACHE" => Some(OsString::from("/lc")),
            "OLLAMA_MODELS" => Some(OsString::from("/ol")),
            "XDG_CACHE_HOME" => Some(OsString::from("")),
            _ => None,
        };
        let r = Roots::from_vars(Path::new("/m"), Some(Path::new("/home/u")), vars);
        assert_eq!(r.huggingface, vec![PathBuf::from("/hf/hub")]);
        assert_eq!(r.llama_cpp[0], PathBuf::from("/lc"));
        assert_eq!(r.ollama, vec![PathBuf::from("/ol")]);
        assert_eq!(r.lm_studio[0], PathBuf::from("/home/u/.lmstudio/models"));
        let r = Roots::from_vars(Path::new("/m"), Some(Path::new("/home/u")), |_| None);
        assert_eq!(r.huggingface, vec![PathBuf::from("/home/u/.cache/huggingface/hub")]);
        assert_eq!(r.llama_cpp[0], PathBuf::from("/home/u/.cache/llama.cpp"));
        assert_eq!(r.ollama[0], PathBuf::from("/home/u/.ollama/models"));
        let r = Roots::from_vars(Path::new("/m"), None, |n| (n == "HF_HUB_CACHE").then(|| OsString::from("/c")));
        assert_eq!(r.huggingface, vec![PathBuf::from("/c")]);
    }
}
