-- Supervision (docs/supervision.md): what tells that a button or a phone no longer
-- protects its person — silence past the heartbeat interval plus the case's grace,
-- Bluetooth off, the phone offline, a low battery, a stuck button, frames the
-- backend never receipted, a recovered crash. The sweeper (msa/backend/supervision.py)
-- raises an event when one becomes true and ends it when it no longer is; the zone's
-- reference officer (or, for the cases the zone marks, the CIC) acknowledges it.

-- The button's heartbeat interval, as provisioned (firmware/settings.py heartbeat_s).
ALTER TABLE devices ADD COLUMN heartbeat_s INTEGER NOT NULL DEFAULT 900
    CHECK (heartbeat_s BETWEEN 1 AND 86400);

-- Per case: how late a button or phone may be before it is an event, and whether
-- the CIC sees the case's events on its console too.
ALTER TABLE cases ADD COLUMN supervision_grace_s INTEGER NOT NULL DEFAULT 600
    CHECK (supervision_grace_s BETWEEN 0 AND 86400);
ALTER TABLE cases ADD COLUMN cic_watch BOOLEAN NOT NULL DEFAULT FALSE;

-- A period with Bluetooth off is reported when it starts (on_at NULL: still off)
-- and again when it ends, so that it is seen while it lasts.
{link_reports_open}

-- The zone's reference officer: an operator of one police zone.
INSERT INTO roles (name, description)
VALUES ('zone_officer', 'reference officer of a police zone: supervision, daily report, cases');
ALTER TABLE operators ADD COLUMN zone_id BIGINT REFERENCES police_zones (id);

-- What the sweeper last read of each button and phone, folded from the rows
-- committed since its cursors (supervision_cursors): never written by ingest.
CREATE TABLE device_liveness (
    device_id BIGINT PRIMARY KEY,
    last_frame_at BIGINT NOT NULL,  -- committed_at of its latest frame
    heartbeat_counter BIGINT,  -- the counter of its latest heartbeat (the newest built)
    heartbeat_at BIGINT,
    battery_pct SMALLINT,
    flags SMALLINT,
    waiting INTEGER,
    waiting_alarms INTEGER,
    battery_low_at BIGINT  -- committed_at of its latest battery_low frame
);

CREATE TABLE phone_liveness (
    phone_id BIGINT PRIMARY KEY,
    last_seen_at BIGINT NOT NULL  -- the latest check-in, link report or frame it sent
);

-- Per source table, the highest id folded in and the one before it: each sweep
-- reads again from the one before, so a row another transaction committed late
-- (its id taken before the last sweep, visible only after it) is still folded in.
CREATE TABLE supervision_cursors (
    source TEXT PRIMARY KEY,
    seen_id BIGINT NOT NULL,
    reread_from BIGINT NOT NULL
);

CREATE TABLE supervision_events (
    id {pk},
    kind TEXT NOT NULL CHECK (kind IN ('button_silent', 'phone_offline', 'bluetooth_off',
        'battery_low', 'button_stuck', 'frames_waiting', 'crash_recovered')),
    device_id BIGINT NOT NULL,
    phone_id BIGINT,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    case_id BIGINT NOT NULL REFERENCES cases (id),
    zone_id BIGINT NOT NULL REFERENCES police_zones (id),  -- its owner: the managing zone
    since BIGINT NOT NULL,  -- when it became true
    raised_at BIGINT NOT NULL,
    detail TEXT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by BIGINT REFERENCES operators (id),
    ended_at BIGINT,
    CHECK (since <= raised_at),
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
-- One open event per kind and button: the sweeper's raise is idempotent.
CREATE UNIQUE INDEX supervision_open ON supervision_events (kind, device_id)
    WHERE ended_at IS NULL;
CREATE INDEX supervision_by_zone ON supervision_events (zone_id, id);
