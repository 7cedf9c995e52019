"""Who works with the backend (the `roles` table, docs/roles.md), each reaching only
its own work:

- `cic_operator`: the dispatch centre's console, the alarms;
- `zone_officer` (of one police zone): supervision, the daily report, the zone's cases;
- `magistrate` (of one judicial district): requests and decisions, the registrations;
- `tech_desk`: the buttons' inventory (provisioning is the tech desk's CLI);
- `victim_support` (of one judicial district): the protected persons and their
  addresses, confidential ones included (the circular names the magistrate and
  victim support for those).
"""

CIC_OPERATOR = "cic_operator"
ZONE_OFFICER = "zone_officer"
MAGISTRATE = "magistrate"
TECH_DESK = "tech_desk"
VICTIM_SUPPORT = "victim_support"
ROLES = (CIC_OPERATOR, ZONE_OFFICER, MAGISTRATE, TECH_DESK, VICTIM_SUPPORT)
BY_ZONE = (ZONE_OFFICER,)  # an operator of these roles has a police zone
BY_DISTRICT = (MAGISTRATE, VICTIM_SUPPORT)  # and of these, a judicial district
HOME = {  # where a log-in lands
    CIC_OPERATOR: "/console",
    ZONE_OFFICER: "/zone",
    MAGISTRATE: "/magistrate",
    TECH_DESK: "/inventory",
    VICTIM_SUPPORT: "/support",
}
