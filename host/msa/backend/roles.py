"""Who works with the backend (the `roles` table), each reaching only its own work:
the CIC's operators take alarms; a zone's reference officer supervises the zone's
cases (docs/supervision.md)."""

CIC_OPERATOR = "cic_operator"
ZONE_OFFICER = "zone_officer"  # one police zone's reference officer
ROLES = (CIC_OPERATOR, ZONE_OFFICER)
