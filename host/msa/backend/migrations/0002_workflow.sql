-- msa backend schema, version 2: the CIC operator's workflow on an alarm
-- (acknowledged -> dispatched -> on scene -> closed with an outcome and a PV),
-- the location trail during an alarm, the intervention zones, the magistrate's
-- mail outbox, the extensions of the measure, and an append-only audit trail.
--
-- Added columns only (never edits 0001). Who did a step is an operator id;
-- the audit trail says it again, with the detail, and is never updated.

ALTER TABLE alarms ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alarms ADD COLUMN acknowledged_at BIGINT;
ALTER TABLE alarms ADD COLUMN acknowledged_by BIGINT REFERENCES operators (id);
ALTER TABLE alarms ADD COLUMN dispatched_at BIGINT;
ALTER TABLE alarms ADD COLUMN dispatched_by BIGINT REFERENCES operators (id);
ALTER TABLE alarms ADD COLUMN patrol TEXT;
ALTER TABLE alarms ADD COLUMN patrol_zone_id BIGINT REFERENCES police_zones (id);
ALTER TABLE alarms ADD COLUMN on_scene_at BIGINT;
ALTER TABLE alarms ADD COLUMN on_scene_by BIGINT REFERENCES operators (id);
ALTER TABLE alarms ADD COLUMN closed_at BIGINT;
ALTER TABLE alarms ADD COLUMN closed_by BIGINT REFERENCES operators (id);
-- The database refuses, too, a closed stalking alarm without a dispatched patrol.
ALTER TABLE alarms ADD COLUMN outcome TEXT
    CHECK (outcome IS NULL OR (outcome IN ('real', 'false', 'test', 'misuse')
           AND (kind = 'test_alarm' OR dispatched_at IS NOT NULL)));
ALTER TABLE alarms ADD COLUMN pv_number TEXT;

-- The date support starts: the successful test alarm with the CIC (COL 03/2023 §7).
ALTER TABLE cases ADD COLUMN support_started_on TEXT
    CHECK (support_started_on IS NULL OR length(support_started_on) = 10);

-- Where the prosecutor's office of a district takes the CIC's alarm reports.
ALTER TABLE judicial_districts ADD COLUMN magistrate_email TEXT;

ALTER TABLE audit ADD COLUMN detail TEXT;
CREATE INDEX audit_subject ON audit (subject, id);  -- an alarm's history
{audit_append_only}

-- Where a police zone intervenes, as boxes (a zone is the union of its boxes).
-- A demo approximation, not the legal boundaries: see docs/cic.md.
CREATE TABLE zone_areas (
    id {pk},
    zone_id BIGINT NOT NULL REFERENCES police_zones (id),
    south {float} NOT NULL CHECK (south BETWEEN -90 AND 90),
    west {float} NOT NULL CHECK (west BETWEEN -180 AND 180),
    north {float} NOT NULL CHECK (north BETWEEN -90 AND 90),
    east {float} NOT NULL CHECK (east BETWEEN -180 AND 180),
    CHECK (south < north AND west < east),
    UNIQUE (zone_id, south, west, north, east)
);

-- The phone's fixes during an alarm (the first one came with the alarm's frame).
-- (alarm_id, fix_at) is a fix's identity: a retry is a duplicate.
CREATE TABLE alarm_locations (
    id {pk},
    alarm_id BIGINT NOT NULL REFERENCES alarms (id),
    phone_id BIGINT NOT NULL REFERENCES phones (id),
    lat {float} NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon {float} NOT NULL CHECK (lon BETWEEN -180 AND 180),
    accuracy_m {float} CHECK (accuracy_m IS NULL OR accuracy_m >= 0),
    fix_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (alarm_id, fix_at)
);

-- Mail to the magistrate, written in the transaction that closes the alarm and
-- sent afterwards with retries: a mail server that is down loses nothing.
CREATE TABLE notifications (
    id {pk},
    alarm_id BIGINT NOT NULL UNIQUE REFERENCES alarms (id),
    recipient TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    sent_at BIGINT
);
CREATE INDEX notifications_pending ON notifications (sent_at, next_attempt_at);

-- Every extension of the measure by a real alarm ("verlenging stalkingalarm").
CREATE TABLE measure_extensions (
    id {pk},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    alarm_id BIGINT NOT NULL UNIQUE REFERENCES alarms (id),
    previous_ends_on TEXT,
    ends_on TEXT NOT NULL CHECK (length(ends_on) = 10),
    decided_at BIGINT NOT NULL
);
