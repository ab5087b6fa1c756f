//! Loading: the process-wide llama.cpp backend and its devices, the model file (checked before
//! llama.cpp reads it), and the context, refused early when its cache cannot fit in memory.

use std::num::NonZeroU32;
use std::sync::OnceLock;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

use super::format::{single_token, PromptFormat};
use super::session::LlamaSession;
use super::{default_threads, EngineOptions, GpuLayers, MAX_THREADS};
use crate::engine::{reasoning, EngineError, ModelInfo, Reasoning};
use crate::models;

/// The process-wide llama.cpp backend (it may be initialised only once per process).
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            super::cpu_backend::load_variants()?;
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Backend(e.clone()))
}

/// A compute device llama.cpp can use, as `ember doctor` shows it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub name: String,
    pub description: String,
    /// The ggml backend: CPU, CUDA, Metal, Vulkan...
    pub backend: String,
    /// cpu, gpu, integrated gpu or accelerator.
    pub kind: &'static str,
    pub memory_total: usize,
    pub memory_free: usize,
}

/// Every device llama.cpp sees, with its memory (the backend is initialised first).
pub fn device_report() -> Result<Vec<DeviceInfo>, EngineError> {
    use llama_cpp_2::LlamaBackendDeviceType as T;
    backend()?;
    Ok(llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| DeviceInfo {
            kind: match d.device_type {
                T::Cpu => "cpu",
                T::Gpu => "gpu",
                T::IntegratedGpu => "integrated gpu",
                T::Accelerator => "accelerator",
                _ => "other",
            },
            name: d.name,
            description: d.description,
            backend: d.backend,
            memory_total: d.memory_total,
            memory_free: d.memory_free,
        })
        .collect())
}

/// Names of the compute devices llama.cpp can use, e.g. "CPU", "CUDA0 (NVIDIA H200)".
pub fn devices() -> Vec<String> {
    llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| if d.description.is_empty() { d.name } else { format!("{} ({})", d.name, d.description) })
        .collect()
}

fn has_gpu() -> bool {
    use llama_cpp_2::LlamaBackendDeviceType as T;
    llama_cpp_2::list_llama_ggml_backend_devices()
        .iter()
        .any(|d| matches!(d.device_type, T::Gpu | T::IntegratedGpu | T::Accelerator))
}

/// llama.cpp's own explanation of the last failure, from its log.
fn llama_reason(fallback: &str) -> String {
    let lines = crate::logging::llama_errors();
    let picked: Vec<&String> = lines.iter().rev().take(3).collect();
    if picked.is_empty() {
        return fallback.to_string();
    }
    picked.into_iter().rev().map(|l| l.as_str()).collect::<Vec<_>>().join("; ")
}

/// Loads a model (vocabulary only when `vocab_only`), turning every failure into a clear error.
pub fn load_model(
    options: &EngineOptions,
    vocab_only: bool,
    progress: Option<Box<dyn FnMut(f32) -> bool>>,
) -> Result<LlamaModel, EngineError> {
    let path = &options.model_path;
    models::check_model_file(path)?;
    if !vocab_only {
        // The default thread count looks at how busy the CPUs are while the model loads.
        crate::engine::cpu_load::mark();
    }
    let backend = backend()?;
    let gpu_layers = match options.gpu_layers {
        GpuLayers::Auto if has_gpu() => 999,
        GpuLayers::Auto => 0,
        GpuLayers::All => 999,
        GpuLayers::Count(n) => n,
    };
    // By default, read the weights into memory instead of mapping the file: with a mapping, a
    // model file overwritten or truncated in place while ember runs (`cp new.gguf model.gguf`,
    // a download over it) kills the process with SIGBUS/SIGSEGV at the next token. Read, it
    // cannot. `--mmap` chooses the mapping (large models start faster and share the page cache).
    let mut params = LlamaModelParams::default()
        .with_n_gpu_layers(gpu_layers)
        .with_vocab_only(vocab_only)
        .with_use_mmap(options.mmap);
    if let Some(progress) = progress {
        params = params.with_progress_callback(progress);
    }
    crate::logging::clear_llama_errors();
    LlamaModel::load_from_file(backend, path, &params).map_err(|e| {
        let reason = llama_reason(&e.to_string());
        let damaged = ["bounds", "corrupt", "incomplete", "truncat", "failed to read", "tensor"]
            .iter()
            .any(|w| reason.to_lowercase().contains(w));
        if damaged {
            models::ModelFileError::Corrupt { path: path.clone(), reason }.into()
        } else {
            EngineError::LoadFailed { path: path.clone(), reason }
        }
    })
}

fn gpu_offload(layers: GpuLayers) -> bool {
    match layers {
        GpuLayers::Auto => has_gpu(),
        GpuLayers::All => true,
        GpuLayers::Count(n) => n > 0,
    }
}

/// Bytes of KV cache one token takes (keys and values, f16, every layer).
fn kv_bytes_per_token(model: &LlamaModel) -> u64 {
    let n_embd = u64::try_from(model.n_embd()).unwrap_or(0);
    let (heads, kv_heads) = (u64::from(model.n_head().max(1)), u64::from(model.n_head_kv().max(1)));
    2 * 2 * u64::from(model.n_layer()) * n_embd * kv_heads / heads
}

/// Memory the system can still give (Linux `MemAvailable`), when known.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

/// Refuses, before llama.cpp tries (slowly, touching memory), a context whose cache alone
/// cannot fit in the memory available, and suggests a size that does.
fn check_context_fits(model: &LlamaModel, n_ctx: u32, available: Option<u64>) -> Result<(), EngineError> {
    let (Some(available), per_token) = (available, kv_bytes_per_token(model)) else { return Ok(()) };
    let need = per_token.saturating_mul(u64::from(n_ctx));
    if per_token == 0 || need <= available {
        return Ok(());
    }
    // Half of what is free, as a power of two: room for the weights and everything else.
    let fits = (available / 2 / per_token).max(16);
    let suggest = (1u64 << (63 - fits.leading_zeros())).min(u64::from(model.n_ctx_train().max(16)));
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    Err(EngineError::ContextFailed {
        n_ctx,
        reason: format!(
            "its cache alone needs {:.1} GiB and {:.1} GiB of memory is available (--ctx {suggest} would fit)",
            gib(need),
            gib(available)
        ),
    })
}

/// llama.cpp's flash-attention setting (-1 auto, 0 off, 1 on). On the CPU, llama.cpp's automatic
/// choice turns it on, and its CPU flash-attention kernel slows down as the context fills:
/// measured on SmolLM2-135M with 2 threads, the first token at turn 30 of a conversation took
/// 873 ms with it and 96 ms without, and a 4,000-token conversation's next turn 1.7 s against
/// 0.14 s. So ember turns it off unless layers run on a GPU, where llama.cpp decides.
fn flash_attention_policy(choice: Option<bool>, gpu: bool) -> i32 {
    match (choice, gpu) {
        (Some(true), _) => 1,
        (Some(false), _) | (None, false) => 0,
        (None, true) => -1,
    }
}

/// Creates the context for `model` and describes it.
pub fn open_session<'m>(
    model: &'m LlamaModel,
    options: &EngineOptions,
) -> Result<(LlamaSession<'m>, ModelInfo), EngineError> {
    let backend = backend()?;
    let n_ctx_train = model.n_ctx_train().max(1);
    let n_ctx = options.n_ctx.unwrap_or_else(|| n_ctx_train.min(options.ctx_cap)).max(16);
    let threads = match options.threads {
        Some(n) => n,
        None => {
            let (n, others) = crate::engine::cpu_load::default_threads(default_threads());
            if let Some(others) = others.filter(|_| n < default_threads()) {
                tracing::info!(threads = n, others_busy = others, "fewer threads: other programs keep cores busy");
            }
            n
        }
    }
    .clamp(1, MAX_THREADS);
    let threads_i32 = i32::try_from(threads).unwrap_or(i32::MAX);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_threads(threads_i32)
        .with_n_threads_batch(threads_i32)
        // Keep llama.cpp's own timings: --stats shows them next to ember's.
        .with_no_perf(false)
        .with_flash_attention_policy(flash_attention_policy(options.flash_attention, gpu_offload(options.gpu_layers)));
    if !gpu_offload(options.gpu_layers) {
        check_context_fits(model, n_ctx, available_memory())?;
    }
    crate::logging::clear_llama_errors();
    let ctx = model
        .new_context(backend, params)
        .map_err(|e| EngineError::ContextFailed { n_ctx, reason: llama_reason(&e.to_string()) })?;
    let n_batch = ctx.n_batch() as usize;
    let (format, prompt_format, notice) = PromptFormat::for_model(model, &options.template)?;
    let template_source = match &format {
        PromptFormat::Jinja(t) => t.source(),
        PromptFormat::Builtin { .. } | PromptFormat::Plain => None,
    };
    let reasoning_format = reasoning::detect(template_source.as_deref(), "", |text| single_token(model, text));
    let gpu_layers = match options.gpu_layers {
        GpuLayers::Auto if has_gpu() => model.n_layer() + 1,
        GpuLayers::Auto => 0,
        GpuLayers::All => model.n_layer() + 1,
        GpuLayers::Count(n) => n.min(model.n_layer() + 1),
    };
    let info = ModelInfo {
        path: options.model_path.clone(),
        name: models::display_name(&options.model_path),
        n_ctx: ctx.n_ctx() as usize,
        n_ctx_train: n_ctx_train as usize,
        threads,
        gpu_layers,
        prompt_format,
        devices: devices(),
        notice,
        reasoning_format: reasoning_format.name().to_string(),
        reasoning_switch: template_source.as_deref().is_some_and(Reasoning::has_switch),
    };
    let session = LlamaSession {
        model,
        ctx,
        format,
        cached: Vec::new(),
        batch: LlamaBatch::new(n_batch.max(1), 1),
        n_batch: n_batch.max(1),
        summarize_dropped: options.summarize_dropped,
        summary: None,
        drop_point: crate::engine::fit::DropPoint::new(options.drop_to),
        shift: options.context_shift && super::shift::model_can_shift(model),
        shift_pending: false,
        template_source,
        reasoning: Reasoning::Auto,
        reasoning_formats: [None; 6],
        decode_costs: Default::default(),
    };
    Ok((session, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_attention_is_off_on_the_cpu_unless_asked() {
        assert_eq!(flash_attention_policy(None, false), 0);
        assert_eq!(flash_attention_policy(None, true), -1);
        assert_eq!(flash_attention_policy(Some(true), false), 1);
        assert_eq!(flash_attention_policy(Some(false), true), 0);
    }
}
