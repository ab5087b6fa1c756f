//! `/schema`: the output constraint of the next answers, as `--json` and `--json-schema` set it
//! on the command line. A file is read by an effect (`AppEvent::SchemaLoaded` follows); `json`,
//! `off` and a schema typed inline need no I/O.

use std::sync::Arc;

use super::{AppState, Effect};
use crate::engine::constraint::Constraint;

impl AppState {
    /// `/schema [FILE|JSON|json|off]`.
    pub(super) fn schema_command(&mut self, arg: Option<String>) -> Vec<Effect> {
        match arg.as_deref() {
            None => {
                let text = match &self.session.sampling.constraint {
                    Some(c) => format!("answers follow {} · /schema off frees them", c.label),
                    None => "answers are free text · /schema FILE|JSON|json makes them JSON".to_string(),
                };
                self.info(text);
            }
            Some("off") => {
                self.session.sampling.constraint = None;
                self.info("answers are free text from the next one");
            }
            Some("json") => self.on_schema_loaded(Ok(Constraint::json())),
            Some(text) if text.starts_with('{') => {
                self.on_schema_loaded(Constraint::schema(text).map_err(|e| e.to_string()));
            }
            Some(path) => return vec![Effect::LoadSchema(path.to_string())],
        }
        Vec::new()
    }

    /// A constraint `/schema` asked for is ready, or could not be made (the one in use stays).
    pub(super) fn on_schema_loaded(&mut self, result: Result<Constraint, String>) {
        match result {
            Ok(constraint) => {
                self.info(format!("answers follow {} from the next one · /schema off frees them", constraint.label));
                self.session.sampling.constraint = Some(Arc::new(constraint));
            }
            Err(e) => self.error(format!("{e}; the answers stay as they were")),
        }
    }
}
