-- The life of a case (docs/cases.md, COL 03/2023 §7): the request before the
-- magistrate's decision, the zone's revisits and re-evaluations, the stays, the
-- extensions on new facts, and the end with its reason. Every step is also an
-- audit entry in the case's evidence (a request's, once it is granted).

-- A request, its risk assessment and the magistrate's decision. `draft` is the
-- case file as the zone gave it (msa/backend/cases.py); a granted request made
-- the case `case_id`. A refusal may be decided again (revisited).
CREATE TABLE case_requests (
    id {pk},
    reference TEXT NOT NULL UNIQUE,
    requested_by TEXT NOT NULL
        CHECK (requested_by IN ('person', 'police', 'prosecutor', 'third_party')),
    requested_on TEXT NOT NULL CHECK (length(requested_on) = 10),
    managing_zone TEXT NOT NULL,
    judicial_district TEXT NOT NULL,
    draft TEXT NOT NULL,
    risk TEXT,  -- JSON: the eight answers (msa/backend/case_life.py RISK_QUESTIONS)
    assessed_at BIGINT,
    decision TEXT CHECK (decision IS NULL OR decision IN ('granted', 'refused')),
    decided_on TEXT CHECK (decided_on IS NULL OR length(decided_on) = 10),
    decision_note TEXT,
    case_id BIGINT REFERENCES cases (id),
    created_at BIGINT NOT NULL,
    CHECK ((decision = 'granted') = (case_id IS NOT NULL))
);

ALTER TABLE cases ADD COLUMN ended_on TEXT CHECK (ended_on IS NULL OR length(ended_on) = 10);
ALTER TABLE cases ADD COLUMN end_reason TEXT CHECK (end_reason IS NULL OR end_reason IN
    ('expired', 'danger_gone', 'abuse', 'victim_request', 'settled_abroad'));

-- The zone's revisits (every 3 months) and re-evaluations (the month before the end).
CREATE TABLE case_reviews (
    id {pk},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    kind TEXT NOT NULL CHECK (kind IN ('revisit', 'reevaluation')),
    on_day TEXT NOT NULL CHECK (length(on_day) = 10),
    note TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    UNIQUE (case_id, kind, on_day)
);

-- Stays the person announced: accepted ones are also an address of kind 'stay'.
CREATE TABLE stays (
    id {pk},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    person_id BIGINT NOT NULL REFERENCES persons (id),
    address TEXT NOT NULL,
    country TEXT NOT NULL CHECK (length(country) = 2),
    starts_on TEXT NOT NULL CHECK (length(starts_on) = 10),
    ends_on TEXT NOT NULL CHECK (length(ends_on) = 10),
    announced_on TEXT NOT NULL CHECK (length(announced_on) = 10),
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'refused', 'abroad')),
    reason TEXT NOT NULL,
    at BIGINT NOT NULL,
    UNIQUE (person_id, starts_on, address),
    CHECK (starts_on < ends_on)
);
CREATE INDEX stays_abroad ON stays (person_id, outcome, starts_on);

-- An extension is a real alarm's, or the magistrate's on new facts (no alarm).
{extensions_on_facts}
