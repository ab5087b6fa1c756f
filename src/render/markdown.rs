//! Markdown to terminal lines for the TUI transcript.
//!
//! A message is split into [`Block`]s — prose paragraphs and fenced code blocks — so that a reply
//! being streamed re-renders only its last, unfinished block. Prose goes through pulldown-cmark;
//! code through syntect, one line at a time. Every string is sanitized first.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::fence::{Chunk, FenceTracker};
use super::highlight;
use super::sanitize;
use super::theme::{self, colored};
use super::wrap::{wrap_code, wrap_spans};

/// A top-level piece of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Markdown prose, up to and including a blank line.
    Prose(String),
    /// A fenced code block: its language tag, its whole info string (`rust src/main.rs`), and
    /// its code, byte-exact as written.
    Code { lang: String, info: String, code: String, closed: bool },
}

/// Splits `text` into blocks: prose ends at a blank line or a fence; code ends at its closing fence.
pub fn split_blocks(text: &str) -> Vec<Block> {
    split_blocks_raw(text).into_iter().map(|(block, _)| block).collect()
}

/// [`split_blocks`], with the number of bytes of `text` each block spans. Block boundaries are
/// stable: the text after a complete block splits the same on its own.
pub fn split_blocks_raw(text: &str) -> Vec<(Block, usize)> {
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut code: Option<(String, String, String, usize)> = None;
    let mut tracker = FenceTracker::default();
    let mut on = |chunk: Chunk<'_>| match chunk {
        Chunk::Text(t) => {
            prose.push_str(t);
            // A blank line ends a paragraph: later text cannot change how it renders.
            while let Some(pos) = prose.find("\n\n") {
                let rest = prose.split_off(pos + 2);
                let done = std::mem::replace(&mut prose, rest);
                let len = done.len();
                blocks.push((Block::Prose(done), len));
            }
        }
        Chunk::FenceOpen { lang, line } => {
            if !prose.is_empty() {
                let len = prose.len();
                blocks.push((Block::Prose(std::mem::take(&mut prose)), len));
            }
            let info = super::fence::info_string(line).to_string();
            code = Some((lang.to_string(), info, String::new(), line.len()));
        }
        Chunk::CodeLine(line) => {
            if let Some((_, _, c, raw)) = code.as_mut() {
                c.push_str(line);
                *raw += line.len();
            }
        }
        Chunk::FenceClose { line } => {
            if let Some((lang, info, c, raw)) = code.take() {
                blocks.push((Block::Code { lang, info, code: c, closed: !line.is_empty() }, raw + line.len()));
            }
        }
    };
    tracker.push(text, &mut on);
    tracker.finish(&mut on);
    if !prose.is_empty() {
        let len = prose.len();
        blocks.push((Block::Prose(prose), len));
    }
    blocks
}

/// How to draw: width, colour, and the number of the first code block.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub width: u16,
    pub color: bool,
}

/// Renders one code block in a closed frame as wide as `opts.width`: a header rule
/// `╭─ [N] lang ─╮` (`╭─ lang ─╮` without a number: code the user sent), the highlighted lines between `│` edges (hard-wrapped, each continuation
/// row marked `↪` in the gutter), and a bottom rule `╰─╯`. The frame is drawing only: the code
/// copied, saved or opened stays as written.
pub fn render_code(number: Option<usize>, lang: &str, code: &str, opts: RenderOptions) -> Vec<Line<'static>> {
    use super::wrap::str_width;
    // Narrower than an edge, a gutter and a cell of code: no right edge, just the lines.
    let width = usize::from(opts.width).max(1);
    let framed = width >= 5;
    let border = colored(opts.color, theme::CODE_BORDER);
    let label = if lang.is_empty() { "text".to_string() } else { sanitize(lang).into_owned() };
    let header = match number {
        Some(n) => format!("╭─ [{n}] {label} "),
        None => format!("╭─ {label} "),
    };
    let header: String = cut_to(&header, width.saturating_sub(usize::from(framed)));
    let fill = width.saturating_sub(str_width(&header) + usize::from(framed));
    let corner = if framed { "╮" } else { "" };
    let mut lines = vec![Line::from(Span::styled(
        format!("{header}{}{corner}", "─".repeat(fill)),
        colored(opts.color, theme::CODE_HEADER),
    ))];
    // Code rows end 2 columns before the edge: a space, then `│`.
    let inner = if framed { width - 2 } else { width };
    let gutter = vec![Span::styled("│ ", border)];
    let cont = vec![Span::styled("│", border), Span::styled("↪", colored(opts.color, theme::MUTED))];
    let mut highlighter = opts.color.then(|| highlight::LineHighlighter::new(lang, code));
    for raw in code.split_inclusive('\n') {
        let safe = super::sanitize::for_cells(raw.trim_end_matches(['\n', '\r']));
        let spans = match highlighter.as_mut() {
            Some(h) => h.spans(&safe),
            None => vec![Span::raw(safe.into_owned())],
        };
        for mut row in wrap_code(spans, inner, &gutter, &cont) {
            if framed {
                let pad = inner.saturating_sub(row.width());
                row.spans.push(Span::raw(" ".repeat(pad + 1)));
                row.spans.push(Span::styled("│", border));
            }
            lines.push(row);
        }
    }
    let bottom = if framed { format!("╰{}╯", "─".repeat(width - 2)) } else { "╰".to_string() };
    lines.push(Line::from(Span::styled(bottom, border)));
    lines
}

/// The longest start of `s` that fits in `width` columns.
fn cut_to(s: &str, width: usize) -> String {
    let mut used = 0;
    s.chars()
        .take_while(|c| {
            used += super::wrap::char_width(*c);
            used <= width
        })
        .collect()
}

/// Renders a prose block.
pub fn render_prose(text: &str, opts: RenderOptions) -> Vec<Line<'static>> {
    let text = super::sanitize::for_cells(text);
    let mut r = ProseRenderer::new(opts);
    let parser = Parser::new_ext(&text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    for event in parser {
        r.event(event);
    }
    r.flush();
    while r.lines.last().is_some_and(|l| l.width() == 0) {
        r.lines.pop();
    }
    // A paragraph that ended with a blank line keeps one, so paragraphs stay apart.
    if text.ends_with("\n\n") && !r.lines.is_empty() {
        r.lines.push(Line::default());
    }
    r.lines
}

struct ProseRenderer {
    opts: RenderOptions,
    lines: Vec<Line<'static>>,
    spans: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Per open list: the next number (None for bullets).
    lists: Vec<Option<u64>>,
    /// Prefix for the current item's first row, and for continuation rows.
    item_prefix: Option<String>,
    indent: String,
    quote_depth: usize,
    link: Option<String>,
    table_row: Vec<String>,
    table_cell: Option<String>,
}

impl ProseRenderer {
    fn new(opts: RenderOptions) -> Self {
        ProseRenderer {
            opts,
            lines: Vec::new(),
            spans: Vec::new(),
            styles: vec![Style::default()],
            lists: Vec::new(),
            item_prefix: None,
            indent: String::new(),
            quote_depth: 0,
            link: None,
            table_row: Vec::new(),
            table_cell: None,
        }
    }

    fn current(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, s: Style) {
        let merged = self.current().patch(colored(self.opts.color, s));
        self.styles.push(merged);
    }

    fn text(&mut self, t: &str) {
        // Character references (&#x202E;) become characters only now: sanitize after parsing.
        let t = super::sanitize::for_cells(t);
        if let Some(cell) = self.table_cell.as_mut() {
            cell.push_str(&t.replace('\n', " "));
            return;
        }
        // HTML blocks (and inline HTML) arrive with their newlines: each one ends a line, as a
        // span holding a newline would not.
        for piece in t.split_inclusive('\n') {
            let (text, ends_line) = match piece.strip_suffix('\n') {
                Some(text) => (text, true),
                None => (piece, false),
            };
            if !text.is_empty() {
                self.spans.push(Span::styled(text.to_string(), self.current()));
            }
            if ends_line {
                self.flush();
            }
        }
    }

    fn prefixes(&mut self) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let quote = "│ ".repeat(self.quote_depth);
        let quote_style = colored(self.opts.color, theme::QUOTE_GUTTER);
        let first_item = self.item_prefix.take();
        let rest = format!("{}{}", self.indent, " ".repeat(first_item.as_ref().map_or(0, |p| p.chars().count())));
        let first = format!("{}{}", self.indent, first_item.clone().unwrap_or_default());
        let mk = |s: String| {
            let mut v = Vec::new();
            if !quote.is_empty() {
                v.push(Span::styled(quote.clone(), quote_style));
            }
            if !s.is_empty() {
                v.push(Span::raw(s));
            }
            v
        };
        if first_item.is_some() {
            // Continuation rows of this item, and later paragraphs in it, align under its text.
            self.indent = rest.clone();
        }
        (mk(first), mk(rest))
    }

    fn flush(&mut self) {
        if self.spans.is_empty() && self.item_prefix.is_none() {
            return;
        }
        let spans = std::mem::take(&mut self.spans);
        let (first, rest) = self.prefixes();
        self.lines.extend(wrap_spans(&spans, usize::from(self.opts.width), &first, &rest));
    }

    fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| l.width() > 0) {
            self.lines.push(Line::default());
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t),
            Event::Code(t) => {
                let s = colored(self.opts.color, theme::INLINE_CODE);
                let merged = self.current().patch(s);
                let t = super::sanitize::for_cells(&t);
                if let Some(cell) = self.table_cell.as_mut() {
                    cell.push_str(&t);
                } else {
                    self.spans.push(Span::styled(format!("`{t}`"), merged));
                }
            }
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                let w = usize::from(self.opts.width).min(40);
                self.lines.push(Line::from(Span::styled("─".repeat(w), colored(self.opts.color, theme::RULE))));
            }
            Event::Html(t) | Event::InlineHtml(t) => self.text(&t),
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(t) => self.text(&format!("[{t}]")),
            Event::InlineMath(t) | Event::DisplayMath(t) => self.text(&t),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {}
            Tag::Heading { level, .. } => {
                self.flush();
                let hashes = match level {
                    HeadingLevel::H1 => "# ",
                    HeadingLevel::H2 => "## ",
                    _ => "### ",
                };
                self.push_style(theme::HEADING);
                self.text(hashes);
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.quote_depth += 1;
            }
            Tag::CodeBlock(_) => {
                // Indented code (fenced code is split out before): shown as is, in colour.
                self.flush();
                self.push_style(theme::INLINE_CODE);
            }
            Tag::List(start) => {
                self.flush();
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_string(),
                };
                self.item_prefix = Some(marker);
            }
            Tag::Emphasis => self.push_style(Style::default().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(Style::default().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.push_style(Style::default().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.link = Some(dest_url.to_string());
                self.push_style(theme::LINK);
            }
            Tag::Table(_) => self.flush(),
            Tag::TableHead | Tag::TableRow => self.table_row.clear(),
            Tag::TableCell => self.table_cell = Some(String::new()),
            Tag::FootnoteDefinition(_)
            | Tag::HtmlBlock
            | Tag::MetadataBlock(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Superscript
            | Tag::Subscript => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => {
                self.flush();
                if self.lists.is_empty() {
                    self.blank();
                }
            }
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.flush();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            TagEnd::CodeBlock => self.end_indented_code(),
            TagEnd::List(_) => self.end_list(),
            TagEnd::Item => {
                self.flush();
                let parent_indent = self.lists.len().saturating_sub(1) * 3;
                self.indent = " ".repeat(parent_indent.min(self.indent.chars().count()));
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link | TagEnd::Image => self.end_link(),
            TagEnd::TableCell => {
                if let Some(cell) = self.table_cell.take() {
                    self.table_row.push(cell.trim().to_string());
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                let row = std::mem::take(&mut self.table_row).join(" │ ");
                let bold = matches!(tag, TagEnd::TableHead);
                let st = if bold { Style::default().add_modifier(Modifier::BOLD) } else { Style::default() };
                self.spans.push(Span::styled(row, st));
                self.flush();
            }
            TagEnd::Table => self.blank(),
            TagEnd::FootnoteDefinition
            | TagEnd::HtmlBlock
            | TagEnd::MetadataBlock(_)
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::Superscript
            | TagEnd::Subscript => {}
        }
    }

    /// Indented code (fenced code is split out before): shown as is, in colour, indented.
    fn end_indented_code(&mut self) {
        self.styles.pop();
        let spans = std::mem::take(&mut self.spans);
        let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
        let st = self.current().patch(colored(self.opts.color, theme::INLINE_CODE));
        for line in text.lines() {
            let (first, rest) = self.prefixes();
            let mut first = first;
            first.push(Span::raw("    "));
            self.lines.extend(wrap_code(
                vec![Span::styled(line.to_string(), st)],
                usize::from(self.opts.width),
                &first,
                &rest,
            ));
        }
    }

    fn end_list(&mut self) {
        self.flush();
        self.lists.pop();
        if self.lists.is_empty() {
            self.indent.clear();
            self.blank();
        } else {
            // Back to the parent item's indentation.
            let keep = self.indent.chars().count().saturating_sub(3);
            self.indent = " ".repeat(keep);
        }
    }

    /// A link's address follows its text, unless the text is the address.
    fn end_link(&mut self) {
        self.styles.pop();
        if let Some(url) = self.link.take() {
            let shown: String = self.spans.last().map(|s| s.content.to_string()).unwrap_or_default();
            if !url.is_empty() && shown != url {
                self.text(&format!(" ({url})"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    const OPTS: RenderOptions = RenderOptions { width: 40, color: false };

    #[test]
    fn html_blocks_keep_their_lines_and_no_span_holds_a_newline() {
        // Found by fuzzing: an HTML block's text arrives with its newlines.
        let lines = render_prose("<?php\necho 1;\n?>\n", OPTS);
        assert!(lines.iter().flat_map(|l| &l.spans).all(|s| !s.content.contains('\n')), "{lines:?}");
        assert_eq!(plain(&lines), vec!["<?php", "echo 1;", "?>"]);
        let inline = render_prose("a <span\ntitle=x> b", OPTS);
        assert!(inline.iter().flat_map(|l| &l.spans).all(|s| !s.content.contains('\n')), "{inline:?}");
    }

    #[test]
    fn blocks_split_at_blank_lines_and_fences() {
        let md = "Intro line.\n\nSecond para\n```rust src/a.rs\nfn a() {}\n```\nAfter.";
        assert_eq!(
            split_blocks(md),
            vec![
                Block::Prose("Intro line.\n\n".into()),
                Block::Prose("Second para\n".into()),
                Block::Code {
                    lang: "rust".into(),
                    info: "rust src/a.rs".into(),
                    code: "fn a() {}\n".into(),
                    closed: true
                },
                Block::Prose("After.".into()),
            ]
        );
        assert_eq!(
            split_blocks("```py\nx = 1\n"),
            vec![Block::Code { lang: "py".into(), info: "py".into(), code: "x = 1\n".into(), closed: false }]
        );
    }

    #[test]
    fn code_blocks_are_byte_exact() {
        let md = "a\n```py\nx = 1\t# tab\r\n\n  y\n```\nb\n```\nz\n```";
        let code: Vec<(String, String)> = split_blocks(md)
            .into_iter()
            .filter_map(|b| match b {
                Block::Code { lang, code, .. } => Some((lang, code)),
                Block::Prose(_) => None,
            })
            .collect();
        assert_eq!(code, vec![("py".into(), "x = 1\t# tab\r\n\n  y\n".into()), (String::new(), "z\n".into())]);
    }

    #[test]
    fn raw_lengths_add_up_and_tails_split_alike() {
        let md = "Intro.\n\n```rust\nfn a() {}\n```\nTail **x**";
        let raw = split_blocks_raw(md);
        assert_eq!(raw.iter().map(|(_, n)| n).sum::<usize>(), md.len());
        let first = raw[0].1;
        assert_eq!(split_blocks(&md[first..]), split_blocks(md)[1..].to_vec());
    }

    #[test]
    fn prose_renders_lists_quotes_links_and_inline_code() {
        let md = "# Title\n\nSome *text* with `code` and [a link](https://x.io).\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted";
        let lines = plain(&render_prose(md, OPTS));
        assert_eq!(
            lines,
            vec![
                "# Title",
                "Some text with `code` and a link",
                "(https://x.io).",
                "",
                "• one",
                "• two",
                "",
                "1. first",
                "2. second",
                "",
                "│ quoted",
            ]
        );
    }

    #[test]
    fn tables_are_readable() {
        let lines = plain(&render_prose("| a | b |\n|---|---|\n| 1 | 2 |\n", OPTS));
        assert_eq!(lines, vec!["a │ b", "1 │ 2"]);
    }

    #[test]
    fn code_blocks_have_a_numbered_header_and_keep_indentation() {
        let lines = plain(&render_code(Some(2), "python", "def f():\n    return 1\n", OPTS));
        assert!(lines[0].starts_with("╭─ [2] python ─"));
        assert_eq!(lines[1].trim_end_matches(['│', ' ']), "│ def f():");
        assert_eq!(lines[2].trim_end_matches(['│', ' ']), "│     return 1");
    }

    #[test]
    fn code_frames_are_closed_and_even_at_every_width() {
        let code = "x = 1\n".to_string() + &"y".repeat(300) + "\n";
        for width in [5u16, 12, 40, 80, 142, 200] {
            let lines = plain(&render_code(Some(1), "python", &code, RenderOptions { width, color: false }));
            let widths: Vec<usize> = lines.iter().map(|l| super::super::wrap::str_width(l)).collect();
            assert!(widths.iter().all(|w| *w == usize::from(width)), "width {width}: {widths:?}\n{lines:#?}");
            assert!(lines[0].starts_with('╭') && lines[0].ends_with('╮'), "{}", lines[0]);
            assert!(lines[1..lines.len() - 1].iter().all(|l| l.starts_with('│') && l.ends_with('│')));
            let last = &lines[lines.len() - 1];
            assert!(last.starts_with('╰') && last.ends_with('╯'), "{last}");
        }
    }

    #[test]
    fn wrapped_code_rows_carry_a_continuation_mark() {
        let lines = plain(&render_code(Some(1), "", "abcdefghij\nk\n", RenderOptions { width: 10, color: false }));
        assert_eq!(lines[1..4], ["│ abcdef │", "│↪ghij   │", "│ k      │"]);
    }

    #[test]
    fn character_references_cannot_smuggle_controls() {
        let lines = plain(&render_prose("a &#x202E; b &#27;[2J [x](https://e.io/&#x202E;)", OPTS));
        let text = lines.join("\n");
        assert!(!text.contains('\u{202e}') && !text.contains('\x1b'), "{text:?}");
    }

    #[test]
    fn escapes_in_markdown_are_inert() {
        let lines = plain(&render_prose("evil \x1b]0;title\x07 here", OPTS));
        assert_eq!(lines, vec!["evil ␛]0;title␇ here"]);
        let code = plain(&render_code(Some(1), "sh", "echo \x1b[2J\n", OPTS));
        assert_eq!(code[1].trim_end_matches(['│', ' ']), "│ echo ␛[2J");
    }
}
