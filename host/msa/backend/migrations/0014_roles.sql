-- The other roles that work with a case (docs/roles.md): each reaches its own work.
-- A magistrate and victim support work for one judicial district.
INSERT INTO roles (name, description) VALUES
    ('magistrate', 'reference magistrate of a judicial district: requests, decisions'),
    ('tech_desk', 'the police tech desk: buttons, provisioning, inventory'),
    ('victim_support', 'victim support of a judicial district: the persons, their addresses');
ALTER TABLE operators ADD COLUMN district_id BIGINT REFERENCES judicial_districts (id);
