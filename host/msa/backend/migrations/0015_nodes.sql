-- Several backend nodes on one database (issue 15): a scheduled job (the
-- supervision's sweep, the zones' reports) runs on the node holding its lease.
CREATE TABLE job_leases (
    job      TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,   -- the node (msa/backend/nodes.py's NODE)
    until_at BIGINT NOT NULL  -- epoch ms; past it, any node may take the job
);
