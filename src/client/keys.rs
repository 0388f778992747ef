//! `pos-lottery keygen` and `pos-lottery genesis`: new account keys on disk, and a genesis
//! file that gives each of them a balance.
//!
//! A key file is one line, the 32-byte secret key as 64 lowercase hex
//! ([`tx::key_file_text`]), created with mode 0600 and never overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::tool::{new_key, write_new_file, ToolError};
use crate::tx::{self, Genesis};

/// `pos-lottery keygen`: a new account key.
#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// The key file to create (mode 0600); an existing file is never overwritten
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `pos-lottery genesis`: keys for a class and the genesis file that funds them.
#[derive(clap::Args, Debug)]
pub struct GenesisArgs {
    /// How many accounts (and key files)
    #[arg(long, value_parser = crate::config::parse_at_least_one)]
    pub accounts: u64,
    /// Every account's starting balance
    #[arg(long, value_parser = crate::config::parse_at_least_one)]
    pub balance: u64,
    /// Where validator-01.key ... and genesis.json go (created if missing); no file there
    /// is overwritten
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
}

/// Writes a new key file and prints its address on stdout.
///
/// # Errors
/// [`ToolError::Failed`] when the file exists or cannot be written.
pub fn keygen(args: &KeygenArgs) -> Result<(), ToolError> {
    let key = new_key();
    write_new_file(&args.out, &tx::key_file_text(&key), true)?;
    println!("{}", tx::address_of(&key));
    eprintln!(
        "wrote {} (keep it secret: whoever has it spends the account)",
        args.out.display()
    );
    Ok(())
}

/// The key file names for `count` accounts: `validator-01.key` ..., zero-padded to the
/// width of `count` (at least two digits), so they sort in order.
pub fn key_file_names(count: u64) -> Vec<String> {
    let width = count.to_string().len().max(2);
    (1..=count)
        .map(|i| format!("validator-{i:0width$}.key"))
        .collect()
}

/// Checks `--accounts` × `--balance` fits a u64 (the genesis file's total supply).
///
/// # Errors
/// [`ToolError::Usage`] naming both flags.
pub fn check_total(accounts: u64, balance: u64) -> Result<u64, ToolError> {
    accounts.checked_mul(balance).ok_or_else(|| {
        ToolError::Usage(format!(
            "--accounts {accounts} × --balance {balance} is more than {} (2^64 - 1), the most \
             tokens a chain can hold",
            u64::MAX
        ))
    })
}

/// Writes `--accounts` key files and `genesis.json` into `--out-dir`, after checking that
/// none of them exists, and prints each key file with its address, then the genesis path.
///
/// # Errors
/// [`ToolError::Usage`] when the total does not fit a u64; [`ToolError::Failed`] when a file
/// exists (nothing is written then) or a write fails.
pub fn genesis(args: &GenesisArgs) -> Result<(), ToolError> {
    check_total(args.accounts, args.balance)?;
    let dir = &args.out_dir;
    let key_paths: Vec<PathBuf> = key_file_names(args.accounts)
        .into_iter()
        .map(|name| dir.join(name))
        .collect();
    let genesis_path = dir.join(tx::GENESIS_FILE);
    let taken: Vec<&Path> = key_paths
        .iter()
        .chain(std::iter::once(&genesis_path))
        .map(PathBuf::as_path)
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    if let Some(first) = taken.first() {
        let more = match taken.len() {
            1 => String::new(),
            n => format!(", and {} more of the files it would write", n - 1),
        };
        return Err(ToolError::Failed(format!(
            "{} exists already{more}; refusing to overwrite: nothing was written",
            first.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| ToolError::Failed(format!("creating {}: {e}", dir.display())))?;

    let keys: Vec<_> = key_paths.iter().map(|_| new_key()).collect();
    let accounts: BTreeMap<String, u64> = keys
        .iter()
        .map(|k| (tx::address_of(k), args.balance))
        .collect();
    // Two equal keys out of a CSPRNG would mean it is broken: stop before writing anything.
    if accounts.len() != keys.len() {
        return Err(ToolError::Failed(
            "the random number generator produced the same key twice; nothing was written".into(),
        ));
    }
    let text = Genesis { accounts }.to_json();
    for (path, key) in key_paths.iter().zip(&keys) {
        write_new_file(path, &tx::key_file_text(key), true)?;
        println!("{} {}", path.display(), tx::address_of(key));
    }
    write_new_file(&genesis_path, &text, false)?;
    println!(
        "wrote {}: {} accounts with {} tokens each ({} in all)",
        genesis_path.display(),
        args.accounts,
        args.balance,
        // Checked above.
        args.accounts.saturating_mul(args.balance)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_names_are_zero_padded_to_sort_in_order() {
        assert_eq!(
            key_file_names(3),
            ["validator-01.key", "validator-02.key", "validator-03.key"]
        );
        let names = key_file_names(100);
        assert_eq!(names[0], "validator-001.key");
        assert_eq!(names[99], "validator-100.key");
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, names);
    }

    #[test]
    fn the_total_must_fit_a_u64() {
        assert_eq!(check_total(30, 1000), Ok(30_000));
        assert_eq!(check_total(1, u64::MAX), Ok(u64::MAX));
        let err = check_total(2, u64::MAX / 2 + 1).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().starts_with("--accounts 2 × --balance "),
            "{err}"
        );
    }
}
