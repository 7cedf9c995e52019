-- What the phone tells about itself, for the reference officer's daily report
-- (circular of 29 May 2019, §7): when Bluetooth was off, and that it was online.

-- One row per period with Bluetooth off, reported once it is back on.
-- (phone_id, off_at) is the report's identity: a retry is a duplicate.
CREATE TABLE link_reports (
    id {pk},
    phone_id BIGINT NOT NULL REFERENCES phones (id),
    off_at BIGINT NOT NULL,
    on_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (phone_id, off_at),
    CHECK (on_at >= off_at)
);

CREATE TABLE check_ins (
    id {pk},
    phone_id BIGINT NOT NULL REFERENCES phones (id),
    checked_in_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (phone_id, checked_in_at)
);
