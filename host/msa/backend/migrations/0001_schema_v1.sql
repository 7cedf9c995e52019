-- msa backend schema, version 1: cases, protected persons, devices, phones,
-- committed button frames, alarms, console operators and the audit trail.
--
-- One file for both engines. {pk}, {bytes} and {float} are replaced per dialect
-- (store/sql.py, DIALECTS). Instants are epoch milliseconds (BIGINT, UTC);
-- calendar dates (a decision, an end of measure) are ISO 'YYYY-MM-DD' text.
-- Workflow statuses carry no CHECK: their sets grow with the case workflow,
-- and SQLite cannot alter a CHECK without rebuilding the table.

CREATE TABLE judicial_districts (
    id {pk},
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE police_zones (
    id {pk},
    name TEXT NOT NULL UNIQUE,
    district_id BIGINT NOT NULL REFERENCES judicial_districts (id)
);

CREATE TABLE cases (
    id {pk},
    reference TEXT NOT NULL UNIQUE,
    decided_on TEXT NOT NULL CHECK (length(decided_on) = 10),
    managing_zone_id BIGINT NOT NULL REFERENCES police_zones (id),
    district_id BIGINT NOT NULL REFERENCES judicial_districts (id),
    status TEXT NOT NULL DEFAULT 'active',
    ends_on TEXT CHECK (ends_on IS NULL OR length(ends_on) = 10),
    created_at BIGINT NOT NULL
);

CREATE TABLE persons (
    id {pk},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    full_name TEXT NOT NULL,
    phone_number TEXT NOT NULL,
    national_register_number TEXT NOT NULL,
    confidential BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (case_id, national_register_number)
);

CREATE TABLE addresses (
    id {pk},
    person_id BIGINT NOT NULL REFERENCES persons (id),
    kind TEXT NOT NULL CHECK (kind IN ('home', 'work', 'stay')),
    address TEXT NOT NULL,
    valid_from TEXT CHECK (valid_from IS NULL OR length(valid_from) = 10),
    valid_until TEXT CHECK (valid_until IS NULL OR length(valid_until) = 10),
    lat {float} CHECK (lat BETWEEN -90 AND 90),
    lon {float} CHECK (lon BETWEEN -180 AND 180),
    CHECK ((lat IS NULL) = (lon IS NULL)),
    CHECK (kind <> 'stay' OR (valid_from IS NOT NULL AND valid_until IS NOT NULL))
);
CREATE INDEX addresses_person ON addresses (person_id);

CREATE TABLE suspects (
    id {pk},
    case_id BIGINT NOT NULL UNIQUE REFERENCES cases (id),
    full_name TEXT NOT NULL,
    record TEXT NOT NULL DEFAULT '',
    has_weapons BOOLEAN NOT NULL,
    weapons TEXT NOT NULL DEFAULT ''
);

CREATE TABLE devices (
    device_id BIGINT PRIMARY KEY CHECK (device_id BETWEEN 0 AND 4294967295),
    mac_key {bytes} NOT NULL CHECK (length(mac_key) = 32),
    person_id BIGINT REFERENCES persons (id),
    status TEXT NOT NULL DEFAULT 'active',
    created_at BIGINT NOT NULL
);
CREATE INDEX devices_person ON devices (person_id);

-- The victim's phone (the 112 app). Only a SHA-256 of its bearer token is kept.
CREATE TABLE phones (
    id {pk},
    token_sha256 TEXT NOT NULL UNIQUE,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    device_id BIGINT UNIQUE REFERENCES devices (device_id),
    created_at BIGINT NOT NULL
);

-- Every committed button frame. (device_id, counter) is the frame's identity
-- (SPEC §4): the UNIQUE constraint is what makes a retry a duplicate.
-- time_s, battery_mv and uptime_s are decoded from raw for the reports.
CREATE TABLE frames (
    id {pk},
    device_id BIGINT NOT NULL REFERENCES devices (device_id),
    counter BIGINT NOT NULL CHECK (counter BETWEEN 1 AND 4294967295),
    type SMALLINT NOT NULL,
    raw {bytes} NOT NULL,
    time_s BIGINT NOT NULL,
    battery_mv INTEGER NOT NULL,
    uptime_s BIGINT,
    phone_id BIGINT NOT NULL REFERENCES phones (id),
    received_at BIGINT NOT NULL,
    committed_at BIGINT NOT NULL,
    lat {float},
    lon {float},
    accuracy_m {float},
    fix_at BIGINT,
    UNIQUE (device_id, counter),
    CHECK ((lat IS NULL) = (lon IS NULL))
);

CREATE TABLE alarms (
    id {pk},
    frame_id BIGINT NOT NULL UNIQUE REFERENCES frames (id),
    kind TEXT NOT NULL CHECK (kind IN ('alarm', 'test_alarm')),
    status TEXT NOT NULL DEFAULT 'open',
    person_id BIGINT NOT NULL REFERENCES persons (id),
    case_id BIGINT NOT NULL REFERENCES cases (id),
    pressed_at BIGINT
);
CREATE INDEX alarms_status ON alarms (status);

CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL
);
INSERT INTO roles (name, description)
VALUES ('cic_operator', 'dispatch centre (CIC) operator: receives alarms with their case context');

CREATE TABLE operators (
    id {pk},
    name TEXT NOT NULL UNIQUE,
    token_sha256 TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL REFERENCES roles (name),
    created_at BIGINT NOT NULL
);

-- Append-only: who saw or did what, when. No foreign keys, so that the trail
-- outlives what it speaks of.
CREATE TABLE audit (
    id {pk},
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    case_id BIGINT
);
CREATE INDEX audit_case ON audit (case_id, at);
