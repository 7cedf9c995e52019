-- A heartbeat's count of frames the button still holds (and of alarms among them),
-- as columns beside battery_pct and flags: the supervision's sweep folds frames
-- into device_liveness in SQL, without reading each frame back to parse it.
-- Frames committed before this migration have none: the button's next heartbeat
-- brings them.
ALTER TABLE frames ADD COLUMN waiting INTEGER;
ALTER TABLE frames ADD COLUMN waiting_alarms INTEGER;
