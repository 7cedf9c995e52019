-- The managing zones' daily reports (docs/daily-report.md): when each zone wants
-- it (local time, Europe/Brussels) and where it is mailed; every report made, as
-- it was sent. (zone_id, day) is a report's identity: made and mailed once.

CREATE TABLE zone_report_schedules (
    zone_id BIGINT PRIMARY KEY REFERENCES police_zones (id),
    send_at TEXT NOT NULL CHECK (length(send_at) = 5),  -- 'HH:MM'
    email TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    since_day TEXT NOT NULL CHECK (length(since_day) = 10),  -- the first day reported
    updated_at BIGINT NOT NULL
);

CREATE TABLE zone_reports (
    id {pk},
    zone_id BIGINT NOT NULL REFERENCES police_zones (id),
    day TEXT NOT NULL CHECK (length(day) = 10),
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    persons INTEGER NOT NULL,
    irregular INTEGER NOT NULL,
    body TEXT NOT NULL,  -- JSON: the report's lines as mailed (msa/backend/daily_report.py)
    notification_id BIGINT REFERENCES notifications (id),
    UNIQUE (zone_id, day),
    CHECK (period_start < period_end)
);
