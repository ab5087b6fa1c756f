//! Starting the full-screen chat from the command line and config: the engine, the saved
//! conversation to continue, the roles `/role` switches among.

use crate::cli::Cli;
use crate::config::{Effective, Paths};
use crate::conversation::{setup, AppError, EngineChoice};
use crate::store::NewConversation;

/// Runs the chat until the user quits; the exit status (128 + the signal when one ended it).
pub fn launch(cli: &Cli, effective: &Effective, paths: &Paths) -> Result<u8, AppError> {
    // One thread is plenty for the UI, and leaves the cores to llama.cpp.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Input(format!("cannot start the async runtime: {e}")))?;
    let engine = EngineChoice::from_config(cli, effective, paths)?;
    // The recorder thread opens its own connection.
    let (_, resume) = setup::history_and_resume(cli, effective, paths, true)?;
    if effective.role.takes_input() {
        return Err(AppError::Usage(format!(
            "role {:?} is a template for one question ({{{{input}}}}): use it with a prompt or piped input",
            effective.role.name
        )));
    }
    let system = setup::system_prompt(cli, effective, resume.as_ref())?;
    let history = effective.history.then(|| super::HistorySetup {
        path: paths.history_db(),
        kv_dir: paths.kv_dir(),
        new: NewConversation { model: engine.label(), system_prompt: system.clone(), cwd: setup::cwd() },
        resume,
    });
    let roles = crate::roles::load_all(&paths.roles_dir()).map_err(|e| AppError::Usage(e.to_string()))?;
    let options = super::TuiOptions {
        engine,
        sampling: setup::sampling(effective),
        system_prompt: system,
        roles: super::RoleSwitch {
            roles,
            current: effective.role.name.clone(),
            base: effective.base_sampling.clone(),
            flags: effective.flag_sampling.clone(),
            vars: effective.vars.clone(),
        },
        color: setup::color_wanted(),
        history,
    };
    match runtime.block_on(super::run(options)) {
        Ok(super::Exit::Quit) => Ok(0),
        Ok(super::Exit::Signal(n)) => Ok(128 + n as u8),
        Err(e) => Err(AppError::Input(e.to_string())),
    }
}
