//! What the ledger tools (`keygen`, `genesis`, `sign`, `connect`, `transfer`) share: one error
//! type whose variant is the exit code, and the key file on disk.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use ed25519_dalek::SigningKey;

use crate::tx;

/// Why a ledger tool stopped: a one-line message for the terminal, and which exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// Bad arguments or input (a bound, a pasted line, an address): exit 2, like a flag clap
    /// refuses.
    #[error("{0}")]
    Usage(String),
    /// The work could not be done (a file exists or cannot be read, the server is down or
    /// refused): exit 1.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// 2 for [`ToolError::Usage`], 1 for [`ToolError::Failed`].
    pub fn exit_code(&self) -> u8 {
        match self {
            ToolError::Usage(_) => 2,
            ToolError::Failed(_) => 1,
        }
    }
}

/// A fresh signing key from the thread-local CSPRNG.
///
/// ed25519-dalek 2 takes a rand_core 0.6 RNG and rand 0.9 is built on rand_core 0.9, so the
/// key is made from 32 random bytes instead of `SigningKey::generate`.
pub fn new_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

/// Reads a key file ([`tx::parse_key_file`]).
///
/// # Errors
/// [`ToolError::Failed`] naming the file: it cannot be read, or is not a key file.
pub fn read_key_file(path: &Path) -> Result<SigningKey, ToolError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ToolError::Failed(format!("reading key file {}: {e}", path.display())))?;
    tx::parse_key_file(&text).map_err(|e| ToolError::Failed(format!("{}: {e}", path.display())))
}

/// Writes `text` to a new file, never over an existing one, and syncs it. `secret` files are
/// created with mode 0600 (on Unix), so the key is never readable by others, not even briefly.
///
/// # Errors
/// [`ToolError::Failed`] naming the file: it exists already, or the write failed.
pub fn write_new_file(path: &Path, text: &str, secret: bool) -> Result<(), ToolError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ToolError::Failed(format!(
                "{} exists already; refusing to overwrite it (move it away or pick another name)",
                path.display()
            ))
        } else {
            ToolError::Failed(format!("creating {}: {e}", path.display()))
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| ToolError::Failed(format!("writing {}: {e}", path.display())))
}

/// True when `s` is an address: 64 lowercase hex characters that decode to an Ed25519
/// public key that can sign. A weak (small-order) key decodes, but no signature by it passes
/// the strict check, so tokens sent to it could never move again: refused here.
pub(super) fn is_address(s: &str) -> bool {
    tx::is_public_key(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_written_once_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        let key = new_key();
        write_new_file(&path, &tx::key_file_text(&key), true).unwrap();
        assert_eq!(read_key_file(&path).unwrap().to_bytes(), key.to_bytes());
        let err = write_new_file(&path, "other\n", true).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("a.key exists already"), "{err}");
        assert_eq!(read_key_file(&path).unwrap().to_bytes(), key.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_missing_or_garbled_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.key");
        let err = read_key_file(&missing).unwrap_err();
        assert!(err.to_string().starts_with("reading key file "), "{err}");
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "xyz\n").unwrap();
        let err = read_key_file(&bad).unwrap_err();
        assert!(err.to_string().contains("bad.key: not a key file"), "{err}");
    }

    #[test]
    fn addresses_are_lowercase_public_keys() {
        let a = tx::address_of(&new_key());
        assert!(is_address(&a));
        assert!(!is_address(&a.to_uppercase()));
        assert!(!is_address(&a[1..]));
        assert!(!is_address("zz"));
        // The identity point: a valid encoding, but a small-order key that can never sign.
        let identity = format!("01{}", "0".repeat(62));
        assert!(!tx::is_public_key(&identity));
        assert!(!is_address(&identity));
    }
}
