-- The evidence log (docs/backend.md, "Evidence"): per case, an append-only chain of
-- what happened — alarms, location fixes, operator steps, case decisions — each
-- entry holding the SHA-256 of the one before, so that a row altered or removed
-- afterwards breaks the chain. `evidence_heads` is each chain's last link; its row
-- is locked while an entry is appended, so one case's chain grows one entry at a time.
-- (kind, source_id) names the row an entry copies (alarms, alarm_locations, audit):
-- a row is chained once.

CREATE TABLE evidence (
    id {pk},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    seq BIGINT NOT NULL CHECK (seq >= 1),
    at BIGINT NOT NULL,  -- when it happened (ms), as the source row says
    kind TEXT NOT NULL CHECK (kind IN ('alarm', 'fix', 'audit')),
    source_id BIGINT NOT NULL,
    body TEXT NOT NULL,  -- canonical JSON (msa/backend/evidence.py)
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (case_id, seq),
    UNIQUE (kind, source_id)
);

CREATE TABLE evidence_heads (
    case_id BIGINT PRIMARY KEY REFERENCES cases (id),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

{evidence_append_only}
