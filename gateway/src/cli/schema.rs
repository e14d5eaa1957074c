//! `portcullis schema`: the JSON Schema of a file kind, or the configuration
//! reference made from them (docs/config-reference.md).

use portcullis::schema::FileKind;
use std::process::ExitCode;

/// `file` unless `markdown` (clap makes them exclusive, one required).
pub fn run(file: Option<FileKind>, markdown: bool) -> ExitCode {
    match file {
        Some(kind) if !markdown => print!("{}", portcullis::schema::json_text(kind)),
        _ => print!("{}", portcullis::schema::markdown()),
    }
    ExitCode::SUCCESS
}
