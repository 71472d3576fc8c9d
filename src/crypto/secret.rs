//! Appliance secrets on disk: 32-byte keys in files only the owner can read.

use std::fs;
use std::path::{Path, PathBuf};

use rand::RngCore;

/// A key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Reading or writing failed.
    #[error("key file {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        cause: std::io::Error,
    },
    /// The file is not 64 hex characters.
    #[error("key file {0} is not a 32-byte hex key")]
    Format(PathBuf),
    /// Group or others may read the file.
    #[error("key file {0} is readable by group or others; run `chmod 600` on it")]
    Permissions(PathBuf),
    /// Group or others may enter the key directory.
    #[error("key directory {0} is open to group or others; run `chmod 700` on it")]
    DirPermissions(PathBuf),
}

/// A key's check value: the first 8 bytes of AES-256 under the key of an
/// all-zero block. Stored beside the data a key protects, so a data
/// directory is never opened with a different (or newly generated) key; it
/// reveals nothing about the key.
pub fn check_value(key: &[u8; 32]) -> [u8; 8] {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let cipher = aes::Aes256::new(key.into());
    let mut block = aes::Block::default();
    cipher.encrypt_block(&mut block);
    let mut out = [0u8; 8];
    out.copy_from_slice(&block[..8]);
    out
}

/// Creates `dir` with mode 0700 if missing.
pub fn ensure_private_dir(dir: &Path) -> Result<(), SecretError> {
    let err = |cause| SecretError::Io {
        path: dir.to_owned(),
        cause,
    };
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(err)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir).map_err(err)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(SecretError::DirPermissions(dir.to_owned()));
        }
    }
    Ok(())
}

/// Refuses a secret file (a private key) that group or others may read.
pub fn check_private_file(path: &Path) -> Result<(), SecretError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|cause| SecretError::Io {
            path: path.to_owned(),
            cause,
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(SecretError::Permissions(path.to_owned()));
        }
    }
    Ok(())
}

/// Loads the 32-byte key in `path`, creating it from the OS random source if
/// it does not exist.
pub fn load_or_create_key(path: &Path) -> Result<[u8; 32], SecretError> {
    if path.exists() {
        return load_key(path);
    }
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut text = hex::encode(key);
    text.push('\n');
    crate::pki::write_file(path, text.as_bytes(), true).map_err(|e| match e {
        crate::pki::PkiError::Io { path, cause } => SecretError::Io { path, cause },
        _ => SecretError::Format(path.to_owned()),
    })?;
    Ok(key)
}

/// Loads an existing key, refusing one others can read.
pub fn load_key(path: &Path) -> Result<[u8; 32], SecretError> {
    let meta = fs::metadata(path).map_err(|cause| SecretError::Io {
        path: path.to_owned(),
        cause,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(SecretError::Permissions(path.to_owned()));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = fs::read_to_string(path).map_err(|cause| SecretError::Io {
        path: path.to_owned(),
        cause,
    })?;
    let bytes = hex::decode(text.trim()).map_err(|_| SecretError::Format(path.to_owned()))?;
    bytes
        .try_into()
        .map_err(|_| SecretError::Format(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k/transform.key");
        let a = load_or_create_key(&p).unwrap();
        let b = load_or_create_key(&p).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(load_key(&p), Err(SecretError::Permissions(_))));
        }
    }
}
