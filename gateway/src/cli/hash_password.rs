//! `portcullis hash-password`: the argon2id PHC string of a password read
//! on stdin, for `password_hash` in the users file of an idp of type local.

use std::process::ExitCode;

/// `hash-password`: one line from stdin (its line ending removed, nothing
/// else) to an argon2id PHC string on stdout. Exit 2 for an empty password.
pub fn run() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("portcullis hash-password: cannot read stdin: {e}");
        return ExitCode::from(1);
    }
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if password.is_empty() {
        eprintln!(
            "portcullis hash-password: the password is empty; write it as one line on stdin, \
             e.g. `portcullis hash-password < password.txt`"
        );
        return ExitCode::from(2);
    }
    match portcullis::local_idp::hash_password(password) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("portcullis hash-password: hashing failed: {e}");
            ExitCode::from(1)
        }
    }
}
