-- Mail that is not about an alarm (a district short of buttons, docs/tech-desk.md)
-- goes through the same outbox: a notification's alarm is optional from now on.
-- The reorder mail is sent once per shortage: shortage_mailed_at is set when it
-- is queued and cleared when the stock is back at its level.

{notifications_alarm_optional}

ALTER TABLE judicial_districts ADD COLUMN shortage_mailed_at BIGINT;
