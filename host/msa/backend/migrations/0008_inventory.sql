-- The tech desk's buttons per judicial district (docs/tech-desk.md, "Inventory"):
-- in stock, assigned to a protected person, in repair, returned, or lost. One row
-- per button, its state now; every change also in inventory_history (append-only).
-- A district's min_stock is the level under which the tech desk must reorder.

CREATE TABLE inventory (
    device_id BIGINT PRIMARY KEY CHECK (device_id BETWEEN 0 AND 4294967295),
    district_id BIGINT NOT NULL REFERENCES judicial_districts (id),
    state TEXT NOT NULL CHECK (state IN ('stock', 'assigned', 'repair', 'returned', 'lost')),
    person_id BIGINT REFERENCES persons (id),
    updated_at BIGINT NOT NULL
);
CREATE INDEX inventory_by_district ON inventory (district_id, state);

CREATE TABLE inventory_history (
    id {pk},
    device_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    state TEXT NOT NULL,
    district_id BIGINT NOT NULL,
    person_id BIGINT,
    note TEXT NOT NULL
);
CREATE INDEX inventory_history_by_device ON inventory_history (device_id, id);

ALTER TABLE judicial_districts ADD COLUMN min_stock INTEGER NOT NULL DEFAULT 0
    CHECK (min_stock BETWEEN 0 AND 10000);
