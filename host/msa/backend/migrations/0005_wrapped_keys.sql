-- Device keys at rest are wrapped under the operator's key-encryption key (KEK,
-- msa/backend/keys.py), never in plain text: mac_key gives way to
-- mac_key_wrapped (AES-256-GCM: nonce 12 | ciphertext 32 | tag 16 bytes, the
-- device id as associated data) and kek_id, the id of the KEK it was wrapped
-- under, so that a backend given another KEK says so instead of failing MACs.
--
-- SQL cannot wrap: the store carries the keys of an older database through this
-- migration in its transaction (store/device_keys.py): it reads them before this
-- script drops the plaintext column and writes them wrapped after. Without a KEK
-- it refuses to, and nothing changes. The columns are nullable only because
-- SQLite adds no NOT NULL column without a default; the store never writes NULL.

ALTER TABLE devices ADD COLUMN mac_key_wrapped {bytes}
    CHECK (mac_key_wrapped IS NULL OR length(mac_key_wrapped) = 60);
ALTER TABLE devices ADD COLUMN kek_id TEXT
    CHECK (kek_id IS NULL OR length(kek_id) = 16);
ALTER TABLE devices DROP COLUMN mac_key;
