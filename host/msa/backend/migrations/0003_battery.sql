-- Firmware 0.2's telemetry (protocol/SPEC.md §3): the charge left in %, and the
-- heartbeat's flags (stuck button, low battery, recovered from a crash). NULL
-- for frames from a 0.1 button, which does not send them. battery_low frames
-- (type 4) need no column of their own: they are rows of frames.
ALTER TABLE frames ADD COLUMN battery_pct SMALLINT CHECK (battery_pct BETWEEN 0 AND 100);
ALTER TABLE frames ADD COLUMN flags SMALLINT;
