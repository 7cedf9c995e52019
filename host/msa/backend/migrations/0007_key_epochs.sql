-- Key epochs (protocol/SPEC.md §4): a device has one key per epoch, the epoch
-- being its counters' top byte. Re-provisioning, rotation or a replacement board
-- adds the next epoch; the earlier key is `retired` (its frames are still taken:
-- they were signed while it was valid) or `revoked` (a lost or stolen button:
-- its frames are refused and recorded as security events).
CREATE TABLE device_keys (
    device_id BIGINT NOT NULL REFERENCES devices (device_id),
    epoch INTEGER NOT NULL CHECK (epoch BETWEEN 0 AND 255),
    mac_key_wrapped {bytes} NOT NULL CHECK (length(mac_key_wrapped) = 60),
    kek_id TEXT NOT NULL CHECK (length(kek_id) = 16),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired', 'revoked')),
    created_at BIGINT NOT NULL,
    ended_at BIGINT,
    PRIMARY KEY (device_id, epoch)
);

INSERT INTO device_keys (device_id, epoch, mac_key_wrapped, kek_id, status, created_at)
SELECT device_id, 0, mac_key_wrapped, kek_id, 'active', created_at
FROM devices WHERE mac_key_wrapped IS NOT NULL;

ALTER TABLE devices DROP COLUMN mac_key_wrapped;
ALTER TABLE devices DROP COLUMN kek_id;

-- A phone's tokens, one per epoch of its device: a token reaches the frames and
-- alarms of its own epoch only. phones.token_sha256 keeps the latest token's
-- hash (it is NOT NULL UNIQUE since 0001); who a token is, is read from here.
CREATE TABLE phone_tokens (
    token_sha256 TEXT PRIMARY KEY,
    phone_id BIGINT NOT NULL REFERENCES phones (id),
    epoch INTEGER NOT NULL CHECK (epoch BETWEEN 0 AND 255),
    created_at BIGINT NOT NULL,
    UNIQUE (phone_id, epoch)
);

INSERT INTO phone_tokens (token_sha256, phone_id, epoch, created_at)
SELECT token_sha256, id, 0, created_at FROM phones;

-- What the CIC must hear of although it is no alarm: a frame signed with a
-- revoked key (a stolen button pressed), refused but recorded.
CREATE TABLE security_events (
    id {pk},
    at BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('revoked_key_frame')),
    device_id BIGINT NOT NULL,
    epoch INTEGER NOT NULL,
    counter BIGINT NOT NULL,
    frame_type INTEGER NOT NULL,
    phone_id BIGINT,
    UNIQUE (device_id, counter)
);
