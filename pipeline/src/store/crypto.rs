//! Encryption at rest: AES-256-GCM (the `aes-gcm` crate) over inbox payloads, resource bodies
//! and MPI records, with a key the embedding application supplies.
//!
//! Each encrypted value is `nonce (12 random bytes) || ciphertext+tag`, stored with the id of
//! the key that encrypted it; the associated data binds the value to its table and row, so a
//! value copied to another row does not decrypt. Key rotation: open the store with a new
//! active key and the old keys as [`Encryption::with_old_key`]; new writes use the active key,
//! old rows still decrypt with theirs, and [`SqliteStore::reencrypt`](crate::store::SqliteStore::reencrypt)
//! rewrites old rows under the active key so the old key can be retired.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

use super::StoreError;

/// A 256-bit key with its id (the id is stored on each row it encrypts; never the key).
#[derive(Clone)]
pub struct EncryptionKey {
    id: u32,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl EncryptionKey {
    /// A key from 32 bytes (from a KMS, a secrets manager, an HSM-wrapped file).
    pub fn new(id: u32, key: [u8; 32]) -> Self {
        Self {
            id,
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)),
        }
    }

    /// Its id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

/// The keys a store encrypts and decrypts with: one active key, and older keys kept for
/// reading rows written before a rotation.
#[derive(Debug, Clone)]
pub struct Encryption {
    active: EncryptionKey,
    old: Vec<EncryptionKey>,
}

impl Encryption {
    /// Encrypts new values with `active`.
    pub fn new(active: EncryptionKey) -> Self {
        Self {
            active,
            old: Vec::new(),
        }
    }

    /// Adds an older key, used only to decrypt rows that name it.
    pub fn with_old_key(mut self, key: EncryptionKey) -> Self {
        self.old.push(key);
        self
    }

    /// The active key's id.
    pub fn active_id(&self) -> u32 {
        self.active.id
    }

    fn key(&self, id: u32) -> Option<&EncryptionKey> {
        if self.active.id == id {
            Some(&self.active)
        } else {
            self.old.iter().find(|k| k.id == id)
        }
    }

    /// Encrypts with the active key; returns (key id, nonce || ciphertext).
    pub(crate) fn seal(
        &self,
        table: &'static str,
        aad: &str,
        plain: &[u8],
    ) -> Result<(u32, Vec<u8>), StoreError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .active
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Encrypt { table })?;
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok((self.active.id, out))
    }

    /// Decrypts a value written by [`Encryption::seal`].
    pub(crate) fn open(
        &self,
        table: &'static str,
        row: &str,
        key_id: u32,
        aad: &str,
        data: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let key = self.key(key_id).ok_or_else(|| StoreError::MissingKey {
            table,
            row: row.to_string(),
            key_id,
        })?;
        let err = || StoreError::Decrypt {
            table,
            row: row.to_string(),
            key_id,
        };
        if data.len() < 12 {
            return Err(err());
        }
        let (nonce, ct) = data.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| err())?;
        key.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| err())
    }
}
