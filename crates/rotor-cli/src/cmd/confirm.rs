//! Asking before deleting keys (`revoke`, `sweep --delete`).

use std::io::{BufRead, IsTerminal, Write};

use crate::error::CliError;

/// Asks on the terminal; refuses (exit 2) when there is no terminal to ask and no `--yes`.
pub fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "{question}: refusing without confirmation because stdin is not a terminal; pass --yes to confirm (nothing was deleted)"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::usage(format!("cannot read the confirmation: {e}")))?;
    if matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::usage("not confirmed: nothing was deleted"))
    }
}
