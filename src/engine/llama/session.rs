//! A loaded model and its context: prompts evaluated reusing the KV cache's longest common
//! prefix, prefill while the user types, generation, and saved states.

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::format::{single_token, tokenize, PromptFormat};
use super::grammar::{self, Grammar};
use super::reply::ReplyText;
use super::speculate::{speculation_allowed, DecodeCosts, Speculation};
use super::summarize::SUMMARY_TOKENS;
use crate::engine::fit::{self, DropPoint, Window};
use crate::engine::message::{Message, Role};
use crate::engine::reasoning::{self, ReasoningFormat, ReasoningParser};
use crate::engine::template::{self, Reasoning};
use crate::engine::{Backend, Countable, EngineError, StopReason, TurnRequest, TurnSink, TurnStats};

/// Tokens at the end of a prompt that a prefill leaves for the turn: the word being typed and
/// the chat template's end of message and start of reply.
const PREFILL_HOLD: usize = 8;

/// Tokens a prefill evaluates between two looks at whether a command is waiting.
const PREFILL_STEP: usize = 32;

/// Prompts longer than this (tokens to evaluate) report their progress, so a long one never
/// leaves the user waiting in silence; shorter ones are evaluated exactly as before.
const PROGRESS_FROM: usize = 256;

/// Tokens a long prompt evaluates between two progress reports: half of llama.cpp's default
/// micro-batch. Measured on SmolLM2-135M, one thread: a 1,054-token prompt read at 115-118
/// tok/s in these steps against 107-108 in one batch; first tokens of short prompts unchanged.
const PROGRESS_STEP: usize = 256;

/// A loaded model and its context, with the tokens whose KV cache the context holds.
pub struct LlamaSession<'m> {
    pub(super) model: &'m LlamaModel,
    pub(super) ctx: LlamaContext<'m>,
    pub(super) format: PromptFormat,
    /// Tokens in sequence 0 of the KV cache, in order.
    pub(super) cached: Vec<LlamaToken>,
    pub(super) batch: LlamaBatch<'static>,
    pub(super) n_batch: usize,
    /// Summarise turns that leave the context (`context_policy = "summarize"`).
    pub(super) summarize_dropped: bool,
    /// The summary of the turns dropped so far, and the hashes of the messages it covers.
    pub(super) summary: Option<(Vec<u64>, String)>,
    /// Where the conversation was last cut, so that the next turns reuse the cache (see
    /// [`fit::DropPoint`]).
    pub(super) drop_point: DropPoint,
    /// After a cut, move the kept turns' cache into place (see the `shift` module).
    pub(super) shift: bool,
    /// Tokens were moved in the cache and no decode has run since (llama.cpp applies a move at
    /// the next decode): the state must not be saved until one has.
    pub(super) shift_pending: bool,
    /// The chat template's source, which says how the model reasons (none for other formats).
    pub(super) template_source: Option<String>,
    /// The reasoning setting of the turn being rendered (the request's, set when it starts).
    pub(super) reasoning: Reasoning,
    /// The reasoning format found for each setting (by `Reasoning::ALL` order), once.
    pub(super) reasoning_formats: [Option<ReasoningFormat>; 6],
    /// What a decode costs by its number of tokens, as speculative turns have timed it.
    pub(super) decode_costs: DecodeCosts,
}

impl<'m> LlamaSession<'m> {
    /// The text of the tokens the context holds, control tokens written out: what the model was
    /// given (and answered) last. For `--print-prompt`-like checks of what a turn really sent.
    pub fn context_text(&self) -> String {
        let vocab = self.model.vocab();
        let bytes: Vec<u8> = self.cached.iter().flat_map(|&t| vocab.token_to_piece(t, true, None)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Keeps what the KV cache holds of `tokens`, at most `limit` tokens, and drops the rest of
    /// the cache: the longest common prefix, then, with shifting on and when `cut` (the prompt
    /// was fitted by leaving messages out), the runs of later tokens the prompt holds next (the
    /// turns the cut kept), moved into place. Without a cut nothing is moved: a prompt that
    /// differs for another reason (an edited message, a template that leaves out earlier
    /// reasoning, a new system prompt) is read again, exactly. Returns how many tokens are kept
    /// and how many of them were moved; `None` when the model's memory cannot drop a range
    /// (recurrent models), with the cache as it was.
    fn keep_cached(&mut self, tokens: &[LlamaToken], limit: usize, cut: bool) -> Option<(usize, usize)> {
        let reuse = common_prefix(&self.cached, tokens).min(limit);
        if reuse == self.cached.len() {
            return Some((reuse, 0));
        }
        if self.shift && cut && reuse < limit {
            if let Some(moved) = self.shift_into(tokens, reuse, limit) {
                return Some((reuse + moved, moved));
            }
            // The cache was cleared.
            return Some((0, 0));
        }
        if !matches!(self.ctx.clear_kv_cache_seq(Some(0), Some(reuse as u32), None), Ok(true)) {
            return None;
        }
        self.cached.truncate(reuse);
        Some((reuse, 0))
    }

    /// Keeps what the cache holds of `tokens` (see [`Self::keep_cached`]), at most `limit`;
    /// starts over with an empty cache when the model's memory cannot drop a range. Returns the
    /// tokens kept and, of them, those moved.
    fn reuse_prefix(&mut self, tokens: &[LlamaToken], limit: usize, cut: bool) -> (usize, usize) {
        self.keep_cached(tokens, limit, cut).unwrap_or_else(|| {
            self.ctx.clear_kv_cache();
            self.cached.clear();
            (0, 0)
        })
    }

    /// Evaluates ahead the prompt of a turn whose last message is still being typed: all of it
    /// but its last `PREFILL_HOLD` tokens (the word being typed and the template's end), in small
    /// steps so that a command sent meanwhile waits at most one step. The prompt is fitted as the
    /// send will fit it, so a conversation that has outgrown the context is cut (and
    /// re-evaluated) now rather than after Enter. Does nothing (and keeps the cache) when the
    /// prompt cannot be built, when the `summarize` policy still has a summary to write, or when
    /// the model's memory cannot drop the part of the cache that no longer matches (recurrent
    /// models: a restart is not worth it).
    fn prefill_prompt(&mut self, req: &TurnRequest, sink: &mut dyn TurnSink) -> Result<usize, EngineError> {
        if sink.cancelled() {
            return Ok(0);
        }
        let Some((tokens, cut)) = self.prefill_tokens(req) else { return Ok(0) };
        let target = tokens.len().saturating_sub(PREFILL_HOLD);
        if common_prefix(&self.cached, &tokens) >= target {
            return Ok(0);
        }
        let Some((kept, _)) = self.keep_cached(&tokens, target, cut) else { return Ok(0) };
        let mut evaluated = 0;
        for chunk in tokens[kept..target].chunks(PREFILL_STEP) {
            if sink.cancelled() || !self.decode_prompt(chunk, self.cached.len(), sink)? {
                break;
            }
            evaluated += chunk.len();
        }
        Ok(evaluated)
    }

    /// The prompt the send of `req` will evaluate, as far as it can be known while the question is
    /// typed: fitted to the context as [`Self::generate_inner`] fits it (with the summary of the
    /// dropped turns, under the `summarize` policy, when it is already written).
    /// Also whether messages were left out to fit it (a cut).
    fn prefill_tokens(&mut self, req: &TurnRequest) -> Option<(Vec<LlamaToken>, bool)> {
        let room = self.reply_room(req.sampling.max_tokens, self.summarize_dropped);
        let (tokens, kept) = self.fit(&req.messages, room).ok()?;
        let cut = kept.len() < req.messages.len();
        if !self.summarize_dropped || !cut {
            return Some((tokens, cut));
        }
        let messages = self.with_known_summary(&req.messages, &kept)?;
        let room = self.reply_room(req.sampling.max_tokens, false);
        let point = self.drop_point.clone();
        let fitted = self.fit(&messages, room).ok().map(|(tokens, _)| (tokens, cut));
        self.drop_point = point;
        fitted
    }

    /// Evaluates `tokens` at positions from `start`, in batches; a long prompt reports its
    /// progress to `sink` before its first batch and after each one, a short one once at the
    /// end. Returns false if cancelled.
    fn decode_prompt(
        &mut self,
        tokens: &[LlamaToken],
        start: usize,
        sink: &mut dyn TurnSink,
    ) -> Result<bool, EngineError> {
        let report = tokens.len() > PROGRESS_FROM;
        // Never hand llama.cpp more than n_batch tokens at once: a larger decode aborts it.
        let step = if report { PROGRESS_STEP.min(self.n_batch) } else { self.n_batch };
        let mut pos = start;
        if report {
            sink.progress(0, tokens.len(), start);
        }
        for chunk in tokens.chunks(step.max(1)) {
            if sink.cancelled() {
                return Ok(false);
            }
            self.batch.clear();
            for (i, &token) in chunk.iter().enumerate() {
                let last = pos + i + 1 == start + tokens.len();
                self.batch.add(token, (pos + i) as i32, &[0], last).map_err(|e| EngineError::Decode(e.to_string()))?;
            }
            self.ctx.decode(&mut self.batch).map_err(|e| EngineError::Decode(e.to_string()))?;
            self.shift_pending = false;
            self.cached.extend_from_slice(chunk);
            pos += chunk.len();
            if report || pos == start + tokens.len() {
                sink.progress(pos - start, tokens.len(), pos);
            }
        }
        Ok(true)
    }

    /// How this turn's output splits into reasoning and answer: the template's family, and
    /// whether its generation prompt (with this turn's reasoning setting) opens the reasoning.
    fn reasoning_format(&mut self) -> ReasoningFormat {
        let slot = Reasoning::ALL.iter().position(|&r| r == self.reasoning).unwrap_or(0);
        if let Some(format) = self.reasoning_formats[slot] {
            return format;
        }
        let format = self.detect_reasoning_format();
        self.reasoning_formats[slot] = Some(format);
        format
    }

    fn detect_reasoning_format(&self) -> ReasoningFormat {
        let Some(source) = self.template_source.as_deref() else { return ReasoningFormat::None };
        // The generation prompt alone: what the template writes after a one-word question.
        let probe = [Message::new(Role::User, "\u{F8F0}")];
        let tail = self
            .format
            .render_raw(self.model, &probe, true, self.reasoning)
            .ok()
            .and_then(|text| text.rsplit_once('\u{F8F0}').map(|(_, tail)| tail.to_string()))
            .unwrap_or_default();
        reasoning::detect(Some(source), &tail, |text| single_token(self.model, text))
    }

    /// The prompt for `messages`, all of them, as tokens.
    fn prompt_tokens(&self, messages: &[Message]) -> Result<Vec<LlamaToken>, EngineError> {
        let (full, segments) = self.format.segments_with(self.model, messages, self.reasoning)?;
        let tokens = tokenize(self.model, &full, &segments);
        if tokens.is_empty() {
            return Err(EngineError::Template("the prompt is empty".into()));
        }
        Ok(tokens)
    }

    /// Tokens kept free for the reply (see [`fit::reply_room`]); with `summary`, room for a
    /// summary of dropped turns as well.
    pub(super) fn reply_room(&self, max_tokens: usize, summary: bool) -> usize {
        let room = fit::reply_room(max_tokens, self.ctx.n_ctx() as usize);
        if summary {
            room + SUMMARY_TOKENS
        } else {
            room
        }
    }

    /// Tokenizes the conversation, leaving out its oldest unpinned turns when it does not fit
    /// in the context with `room` tokens to spare for a reply: at the last cut while that fits,
    /// else at the cut the cache holds or the next one on the grid of cuts (see [`fit::fit`]).
    /// Returns the tokens and the indices of the messages kept.
    pub(super) fn fit(
        &mut self,
        messages: &[Message],
        room: usize,
    ) -> Result<(Vec<LlamaToken>, Vec<usize>), EngineError> {
        let window = Window { n_ctx: self.ctx.n_ctx() as usize, room, n_ctx_train: self.model.n_ctx_train() as usize };
        let mut point = std::mem::take(&mut self.drop_point);
        let fitted = fit::fit(
            messages,
            window,
            &mut point,
            |messages| {
                let tokens = self.prompt_tokens(messages)?;
                let n = tokens.len();
                Ok((tokens, n))
            },
            |tokens| common_prefix(&self.cached, tokens),
        );
        self.drop_point = point;
        let fitted = fitted?;
        Ok((fitted.prompt, fitted.kept))
    }

    pub(super) fn generate_inner(
        &mut self,
        req: &TurnRequest,
        sink: &mut dyn TurnSink,
    ) -> Result<(TurnStats, StopReason), EngineError> {
        let started = Instant::now();
        self.reasoning = req.sampling.reasoning;
        let room = self.reply_room(req.sampling.max_tokens, false);
        let (tokens, kept) = self.fit(&req.messages, room)?;
        self.generate_tokens(req, tokens, kept.len(), started, sink)
    }

    /// Answers `req` whose prompt, fitted to the context, is `tokens`, made of `kept` of its
    /// messages. `started` is when the turn began (the first token's time counts from it).
    pub(super) fn generate_tokens(
        &mut self,
        req: &TurnRequest,
        tokens: Vec<LlamaToken>,
        kept: usize,
        started: Instant,
        sink: &mut dyn TurnSink,
    ) -> Result<(TurnStats, StopReason), EngineError> {
        let n_ctx = self.ctx.n_ctx() as usize;
        let dropped_messages = req.messages.len() - kept;
        // At least one token must be evaluated to get logits for the first reply token.
        let (reuse, shifted) = self.reuse_prefix(&tokens, tokens.len() - 1, dropped_messages > 0);
        let mut stats = TurnStats {
            prompt_tokens: tokens.len(),
            reused_tokens: reuse,
            shifted_tokens: shifted,
            dropped_messages,
            ..TurnStats::default()
        };
        self.ctx.reset_timings();
        let prompt_started = Instant::now();
        if !self.decode_prompt(&tokens[reuse..], reuse, sink)? {
            return Ok((stats, StopReason::Cancelled));
        }
        // llama_decode may return before a GPU has finished: the prompt's time includes its work.
        self.ctx.synchronize();
        stats.evaluated_tokens = tokens.len() - reuse;
        stats.prompt_time = prompt_started.elapsed();

        let vocab = self.model.vocab();
        let mut sampler = req.sampling.sampler(&self.banned_tokens(req.sampling.ignore_eos));
        let mut grammar = req.sampling.constraint.as_deref().map(|c| Grammar::new(self.model, c)).transpose()?;
        // A recurrent model's memory cannot drop a rejected draft.
        let speculate = speculation_allowed(&req.sampling) && !self.model.is_recurrent() && !self.model.is_hybrid();
        let mut spec = Speculation::new(speculate, &self.cached);
        let mut reply = ReplyText::new(ReasoningParser::new(self.reasoning_format()), self.format.stops());
        let mut logits_index = self.batch.n_tokens() - 1;
        let mut piece = Vec::with_capacity(32);
        let gen_started = Instant::now();
        let stop = loop {
            let logits = self.ctx.get_logits_ith(logits_index);
            let token = grammar::next_token(&mut sampler, grammar.as_mut().filter(|_| reply.answering()), logits)?;
            if stats.generated_tokens == 0 {
                stats.time_to_first_token = started.elapsed();
            }
            if vocab.is_eog(token) {
                break StopReason::EndOfText;
            }
            stats.generated_tokens += 1;
            piece.clear();
            vocab.token_to_piece_into(token, &mut piece, false, None);
            if let Some(stop) = reply.push(token.0, &piece, sink) {
                break stop;
            }
            if stats.generated_tokens >= req.sampling.max_tokens {
                break StopReason::MaxTokens;
            }
            if self.cached.len() + 1 >= n_ctx {
                break StopReason::ContextFull;
            }
            if sink.cancelled() {
                break StopReason::Cancelled;
            }
            logits_index = self.advance(token, &mut spec, req.sampling.max_tokens - stats.generated_tokens)?;
        };
        self.drop_unconfirmed(&mut spec)?;
        stats.speculation = speculate.then_some((spec.drafted, spec.accepted, spec.decodes));
        let (reasoning_tokens, reasoning_time) = reply.finish(stop, sink);
        // (The tail is not a token of its own.)
        stats.reasoning_tokens = reasoning_tokens.min(stats.generated_tokens);
        stats.reasoning_time = reasoning_time;
        stats.generation_time = gen_started.elapsed();
        spec.log(stats.generated_tokens, stats.generation_time, &self.decode_costs);
        // llama.cpp counts a decode of several tokens as prompt, not generation.
        stats.llama_eval = if spec.drafted > 0 { None } else { self.llama_eval() };
        stats.grammar = grammar.map(|g| g.spent());
        tracing::debug!(?stats, "turn done");
        Ok((stats, stop))
    }

    /// The tokens the sampler must never pick: with `ignore_eos`, every end-of-generation token.
    fn banned_tokens(&self, ignore_eos: bool) -> Vec<i32> {
        if !ignore_eos {
            return Vec::new();
        }
        let vocab = self.model.vocab();
        (0..self.model.n_vocab()).filter(|&t| vocab.is_eog(LlamaToken(t))).collect()
    }

    /// llama.cpp's own count and time of the tokens it generated, when it has them.
    fn llama_eval(&mut self) -> Option<(usize, std::time::Duration)> {
        let timings = self.ctx.timings();
        let n_eval = usize::try_from(timings.n_eval()).unwrap_or(0);
        (n_eval > 0 && timings.t_eval_ms() > 0.0)
            .then(|| (n_eval, std::time::Duration::from_secs_f64(timings.t_eval_ms() / 1000.0)))
    }
}

/// How many tokens `a` and `b` share at their start.
fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Backend for LlamaSession<'_> {
    fn generate(&mut self, req: &TurnRequest, sink: &mut dyn TurnSink) -> Result<(TurnStats, StopReason), EngineError> {
        self.reasoning = req.sampling.reasoning;
        let answered;
        let req = match template::without_unanswered(&req.messages) {
            std::borrow::Cow::Borrowed(_) => req,
            std::borrow::Cow::Owned(messages) => {
                answered = TurnRequest { turn: req.turn, messages, sampling: req.sampling.clone() };
                &answered
            }
        };
        let result =
            if self.summarize_dropped { self.generate_summarizing(req, sink) } else { self.generate_inner(req, sink) };
        if result.is_err() {
            // The cache may hold a half-evaluated prompt: forget it rather than trust it.
            self.ctx.clear_kv_cache();
            self.cached.clear();
        }
        result
    }

    fn save_state(&mut self, path: &std::path::Path) -> Result<usize, String> {
        if self.cached.is_empty() {
            return Err("nothing evaluated yet".into());
        }
        if self.shift_pending {
            // llama.cpp re-rotates moved keys at the next decode, and a saved state would keep
            // them unrotated at their new positions (its file has no room for the pending shift).
            return Err("the context was just shifted and not evaluated since".into());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        // Write to a temporary name and rename, so a crash never leaves a half-written state.
        let part = path.with_extension("part");
        let bytes = self.ctx.state_seq_save_file(&part, 0, &self.cached).map_err(|e| e.to_string())?;
        std::fs::rename(&part, path).map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    fn prefill(&mut self, req: &TurnRequest, sink: &mut dyn TurnSink) -> Result<usize, EngineError> {
        self.reasoning = req.sampling.reasoning;
        let result = self.prefill_prompt(req, sink);
        if result.is_err() {
            // Only a failed decode gets here: the cache may hold a half-evaluated step.
            self.ctx.clear_kv_cache();
            self.cached.clear();
        }
        result
    }

    fn count(&mut self, what: &Countable) -> Result<usize, String> {
        match what {
            Countable::Text(text) => Ok(self.model.vocab().tokenize(text.as_bytes(), false, false).len()),
            Countable::Prompt(messages) => self.prompt_tokens(messages).map(|t| t.len()).map_err(|e| e.to_string()),
        }
    }

    fn load_state(&mut self, path: &std::path::Path) -> Result<usize, String> {
        self.ctx.clear_kv_cache();
        self.cached.clear();
        let capacity = self.ctx.n_ctx() as usize;
        match self.ctx.state_seq_load_file(path, 0, capacity) {
            Ok((tokens, _)) => {
                self.cached = tokens;
                Ok(self.cached.len())
            }
            Err(e) => {
                // A failed load may leave part of a state behind: start clean.
                self.ctx.clear_kv_cache();
                Err(e.to_string())
            }
        }
    }
}
