//! Output constraints: `--json` (any JSON value), `--json-schema` (a JSON Schema, from a file or
//! inline) and `--grammar` (a GBNF file), each turned into one GBNF grammar that the llama
//! engine applies while sampling (`sampling.rs`, `llama/grammar.rs`), so the answer matches it
//! by construction. A server gets the schema as `response_format` instead (`remote/`).
//!
//! Everything is checked here, before a model is loaded: a schema this module cannot express,
//! or a grammar llama.cpp would refuse, is an error that names the problem.

pub mod gbnf;
pub mod schema;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde_json::Value;

/// A constraint on a turn's answer, ready for the sampler.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// The GBNF grammar the answer must match, with a `root` rule.
    pub grammar: String,
    /// What the user asked for, in their words ("JSON", "the schema in changes.json").
    pub label: String,
    /// The kind of constraint, for a server (which takes a schema, not a grammar).
    pub kind: ConstraintKind,
}

/// Where a constraint came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    /// Any JSON value (`--json`).
    Json,
    /// A JSON Schema (`--json-schema`).
    Schema(Value),
    /// A GBNF grammar (`--grammar`).
    Grammar,
}

/// Why a constraint cannot be used. Every one is a usage error (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum ConstraintError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: String },
    #[error("{what} is not valid JSON: {error}")]
    NotJson { what: String, error: String },
    #[error("{what} cannot be used: {problem}")]
    Schema { what: String, problem: String },
    #[error("the grammar in {path} does not compile: {problem}")]
    Grammar { path: String, problem: String },
}

impl Constraint {
    /// Any JSON value: an object, array, string, number, true, false or null.
    pub fn json() -> Constraint {
        let grammar = schema::to_gbnf(&Value::Bool(true)).unwrap_or_default();
        Constraint { grammar, label: "JSON".into(), kind: ConstraintKind::Json }
    }

    /// A JSON Schema: `arg` is the schema itself when it starts with `{`, else a file's path.
    pub fn schema(arg: &str) -> Result<Constraint, ConstraintError> {
        let (text, what) = if arg.trim_start().starts_with('{') {
            (arg.to_string(), "the schema".to_string())
        } else {
            (read(Path::new(arg))?, format!("the schema in {arg}"))
        };
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| ConstraintError::NotJson { what: what.clone(), error: e.to_string() })?;
        Constraint::from_schema(value, what)
    }

    /// A JSON Schema already parsed (a role's front matter); `what` names it in errors.
    pub fn from_schema(value: Value, what: String) -> Result<Constraint, ConstraintError> {
        let grammar =
            schema::to_gbnf(&value).map_err(|problem| ConstraintError::Schema { what: what.clone(), problem })?;
        // The converter's output must compile; a failure here is ember's bug, said as such.
        gbnf::check(&grammar).map_err(|problem| ConstraintError::Schema {
            what: what.clone(),
            problem: format!("ember made a grammar llama.cpp would refuse ({problem})"),
        })?;
        Ok(Constraint { grammar, label: what, kind: ConstraintKind::Schema(value) })
    }

    /// A GBNF grammar from a file, checked as llama.cpp will parse it.
    pub fn grammar_file(path: &Path) -> Result<Constraint, ConstraintError> {
        let grammar = read(path)?;
        let name = path.display().to_string();
        gbnf::check(&grammar).map_err(|problem| ConstraintError::Grammar { path: name.clone(), problem })?;
        Ok(Constraint { grammar, label: format!("the grammar in {name}"), kind: ConstraintKind::Grammar })
    }

    /// One of `--json`, `--json-schema` and `--grammar`, whichever is given (clap lets only
    /// one through).
    pub fn from_flags(
        json: bool,
        schema: Option<&str>,
        grammar: Option<&Path>,
    ) -> Result<Option<Constraint>, ConstraintError> {
        match (json, schema, grammar) {
            (_, Some(schema), _) => Constraint::schema(schema).map(Some),
            (_, None, Some(path)) => Constraint::grammar_file(path).map(Some),
            (true, None, None) => Ok(Some(Constraint::json())),
            (false, None, None) => Ok(None),
        }
    }
}

fn read(path: &Path) -> Result<String, ConstraintError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConstraintError::Read { path: path.display().to_string(), error: e.to_string() })
}
