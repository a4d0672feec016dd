//! `rotor completions SHELL` and `rotor man`: generated from the same clap definition as the
//! parser, so they list every subcommand, flag and fixed value.

use std::io::Write;

use clap::CommandFactory;

use crate::args::Cli;
use crate::error::{CliError, Exit};

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "rotor", &mut std::io::stdout());
}

/// Writes the roff man page of `rotor` (with a section per subcommand) to stdout.
pub fn man() -> Result<Exit, CliError> {
    let cmd = Cli::command();
    let mut page = Vec::new();
    render(&cmd, &mut page)
        .map_err(|e| CliError::internal(format!("cannot render the man page: {e}")))?;
    std::io::stdout()
        .write_all(&page)
        .map_err(|e| CliError::internal(format!("cannot write the man page to stdout: {e}")))?;
    Ok(Exit::Ok)
}

/// The top-level page, then one section per subcommand with its description and its arguments
/// (each with its possible values and environment variable).
fn render(cmd: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    use clap_mangen::roff::{Roff, bold, italic, roman};

    clap_mangen::Man::new(cmd.clone()).render(out)?;
    let mut roff = Roff::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let title = format!("ROTOR {}", sub.get_name().to_uppercase());
        roff.control("SH", [title.as_str()]);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            for paragraph in about.to_string().split("\n\n") {
                roff.control("PP", []);
                roff.text([roman(paragraph.replace('\n', " "))]);
            }
        }
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            let mut head = Vec::new();
            match (arg.get_short(), arg.get_long()) {
                (Some(s), Some(l)) => head.push(bold(format!("-{s}, --{l}"))),
                (None, Some(l)) => head.push(bold(format!("--{l}"))),
                (Some(s), None) => head.push(bold(format!("-{s}"))),
                (None, None) => {}
            }
            if arg.get_action().takes_values() {
                let names = arg
                    .get_value_names()
                    .map(|n| {
                        n.iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
                if !head.is_empty() {
                    head.push(roman(" "));
                }
                head.push(italic(format!("<{names}>")));
            }
            roff.control("TP", []);
            roff.text(head);
            let mut body = Vec::new();
            if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
                body.push(roman(help.to_string().replace('\n', " ")));
            }
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_owned())
                .collect();
            if !values.is_empty() && arg.get_action().takes_values() {
                body.push(roman(format!(" [possible values: {}]", values.join(", "))));
            }
            if let Some(env) = arg.get_env() {
                body.push(roman(format!(" [env: {}]", env.to_string_lossy())));
            }
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if !defaults.is_empty() {
                body.push(roman(format!(" [default: {}]", defaults.join(", "))));
            }
            roff.text(body);
        }
    }
    roff.to_writer(out)
}
