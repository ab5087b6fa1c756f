//! Prompt formats: the model's chat template, one of llama.cpp's built-in ones, or plain
//! completion for base models; and the prompt as tokens, control tokens parsed only in the
//! template's own text.

use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use super::load::load_model;
use super::{EngineOptions, TemplateChoice};
use crate::engine::message::Message;
use crate::engine::template::{self, JinjaTemplate, Reasoning, Segment};
use crate::engine::EngineError;

/// How prompts are formatted for one model.
pub enum PromptFormat {
    Jinja(Box<JinjaTemplate>),
    Builtin { name: String, template: LlamaChatTemplate },
    Plain,
}

impl PromptFormat {
    /// Chooses the format for `model`; the notice says when there is no template.
    pub fn for_model(
        model: &LlamaModel,
        choice: &TemplateChoice,
    ) -> Result<(PromptFormat, String, Option<String>), EngineError> {
        let token_text =
            |t: LlamaToken| String::from_utf8_lossy(&model.vocab().token_to_piece(t, true, None)).into_owned();
        let vocab = model.vocab();
        let bos = (vocab.bos().0 >= 0).then(|| token_text(vocab.bos()));
        let eos = (vocab.eos().0 >= 0).then(|| token_text(vocab.eos()));
        let jinja = |source: &str| {
            JinjaTemplate::new(source, bos.as_deref(), eos.as_deref())
                .map(|t| PromptFormat::Jinja(Box::new(t)))
                .map_err(EngineError::Template)
        };
        match choice {
            TemplateChoice::File(path) => {
                let source = std::fs::read_to_string(path).map_err(|e| {
                    EngineError::Template(format!("cannot read template file {}: {e}", path.display()))
                })?;
                Ok((jinja(&source)?, format!("template file {}", path.display()), None))
            }
            TemplateChoice::Builtin(name) => {
                let template = LlamaChatTemplate::new(name)
                    .map_err(|_| EngineError::Template(format!("invalid template name {name:?}")))?;
                let format = PromptFormat::Builtin { name: name.clone(), template };
                // Fail now, not at the first turn, if llama.cpp does not know the name.
                format
                    .render_raw(model, &[Message::new(crate::engine::Role::User, "hi")], true, Reasoning::Auto)
                    .map_err(EngineError::Template)?;
                Ok((format, format!("llama.cpp template {name}"), None))
            }
            TemplateChoice::Model => match model.chat_template(None) {
                Ok(t) => {
                    let source = t.to_string().map_err(|e| EngineError::Template(e.to_string()))?;
                    Ok((jinja(&source)?, "the model's chat template".into(), None))
                }
                Err(_) => Ok((
                    PromptFormat::Plain,
                    "plain User:/Assistant: completion".into(),
                    Some("this model has no chat template (a base model?); using a plain User:/Assistant: format. Choose one with --template NAME or --template-file PATH.".into()),
                )),
            },
        }
    }

    pub(super) fn render_raw(
        &self,
        model: &LlamaModel,
        messages: &[Message],
        add_generation_prompt: bool,
        reasoning: Reasoning,
    ) -> Result<String, String> {
        match self {
            PromptFormat::Jinja(template) => template.render_with(messages, add_generation_prompt, reasoning),
            PromptFormat::Builtin { name, template } => {
                let chat = messages
                    .iter()
                    .map(|m| LlamaChatMessage::new(m.role.as_str().to_string(), m.content.clone()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("message text cannot contain NUL: {e}"))?;
                model.apply_chat_template(template, &chat, add_generation_prompt).map_err(|e| {
                    format!(
                        "llama.cpp has no built-in template {name:?} ({e}); known names include chatml, llama2, llama3, mistral-v7, phi3, phi4, gemma, deepseek3, command-r, vicuna, zephyr"
                    )
                })
            }
            PromptFormat::Plain => Ok(template::render_plain(messages, add_generation_prompt)),
        }
    }

    /// Renders and segments the conversation for generation. When a template rejects the system
    /// role (Gemma, some Mistral), the system prompt is folded into the first user message.
    pub fn segments(&self, model: &LlamaModel, messages: &[Message]) -> Result<(String, Vec<Segment>), EngineError> {
        self.segments_with(model, messages, Reasoning::Auto)
    }

    /// [`PromptFormat::segments`] with a reasoning setting passed to the template.
    pub fn segments_with(
        &self,
        model: &LlamaModel,
        messages: &[Message],
        reasoning: Reasoning,
    ) -> Result<(String, Vec<Segment>), EngineError> {
        let render = |m: &[Message]| self.render_raw(model, m, true, reasoning);
        match self {
            PromptFormat::Jinja(_) => template::segment_folding_system(messages, &render),
            PromptFormat::Builtin { .. } | PromptFormat::Plain => template::segment(messages, &render),
        }
        .map_err(EngineError::Template)
    }

    pub(super) fn stops(&self) -> &'static [&'static str] {
        match self {
            PromptFormat::Plain => template::PLAIN_STOPS,
            PromptFormat::Jinja(_) | PromptFormat::Builtin { .. } => &[],
        }
    }
}

/// Tokenizes a segmented prompt: control tokens are parsed only in template text.
pub fn tokenize(model: &LlamaModel, full: &str, segments: &[Segment]) -> Vec<LlamaToken> {
    let vocab = model.vocab();
    let mut tokens = Vec::with_capacity(full.len() / 3 + 8);
    let bos = vocab.bos();
    let bos_text = String::from_utf8_lossy(&vocab.token_to_piece(bos, true, None)).into_owned();
    if vocab.should_add_bos() && bos.0 >= 0 && (bos_text.is_empty() || !full.starts_with(&bos_text)) {
        tokens.push(bos);
    }
    for segment in segments {
        tokens.extend(vocab.tokenize(segment.text.as_bytes(), false, segment.special));
    }
    tokens
}

/// The id of `text` when the vocabulary has it as one token (a control or added token).
pub(super) fn single_token(model: &LlamaModel, text: &str) -> Option<i32> {
    match model.vocab().tokenize(text.as_bytes(), false, true).as_slice() {
        [one] => Some(one.0),
        _ => None,
    }
}

/// The exact prompt for `messages` and its token count.
pub fn render_prompt(
    model: &LlamaModel,
    format: &PromptFormat,
    messages: &[Message],
    reasoning: Reasoning,
) -> Result<(String, usize), EngineError> {
    let (full, segments) = format.segments_with(model, messages, reasoning)?;
    let tokens = tokenize(model, &full, &segments).len();
    Ok((full, tokens))
}

/// Renders the prompt for `messages` with only the model's vocabulary loaded (`--print-prompt`).
pub fn print_prompt(
    options: &EngineOptions,
    messages: &[Message],
    reasoning: Reasoning,
) -> Result<(String, usize, Option<String>), EngineError> {
    let model = load_model(options, true, None)?;
    let (format, _, notice) = PromptFormat::for_model(&model, &options.template)?;
    let messages = template::without_unanswered(messages);
    let (text, tokens) = render_prompt(&model, &format, &messages, reasoning)?;
    Ok((text, tokens, notice))
}
