"""The backend's OpenAPI 3.1 description, served at `GET /api/v1/openapi.json`.

Written here, next to the code, from the same constants (outcomes, steps, limits).
tests/backend check it three ways: it is valid OpenAPI 3.1; its paths and the
app's routes are the same; and every JSON answer the backend tests receive
(through the `backend` fixture) matches the schema documented for its status.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from msa.backend.inventory import STATES
from msa.backend.supervision import KINDS
from msa.backend.workflow import OUTCOMES, STATUSES, TARGET
from protocol import frame as wire

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


INSTANT = {"type": "string", "format": "date-time", "examples": ["2026-11-23T19:02:03.456Z"]}
DAY = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
OPERATOR_NAME = {"type": "string"}

# A protected person as the console shows one (name and numbers are null when
# the person is confidential).
PERSON: dict[str, Schema] = {
    "id": {"type": "integer"},
    "confidential": {"type": "boolean"},
    "name": nullable({"type": "string"}),
    "phone_number": nullable({"type": "string"}),
    "national_register_number": nullable({"type": "string"}),
}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "description": "a code, e.g. invalid_request"},
            "detail": {"type": "string", "description": "a sentence for a human"},
        },
    },
    "InternalError": {
        "type": "object",
        "required": ["error", "detail", "request_id"],
        "properties": {
            "error": {"const": "internal_error"},
            "detail": {"type": "string"},
            "request_id": {
                "type": "string",
                "description": "also in the answer's X-Request-Id header and the log line",
            },
        },
    },
    "Location": {
        "type": "object",
        "required": ["lat", "lon"],
        "properties": {
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "accuracy_m": nullable({"type": "number", "minimum": 0, "maximum": 1e7}),
            "fix_at": nullable(INSTANT),
        },
    },
    "FrameRequest": {
        "type": "object",
        "required": ["frame", "received_at"],
        "properties": {
            "frame": {
                "type": "string",
                "pattern": "^([0-9a-fA-F]{2})*$",
                "maxLength": 2 * wire.MAX_FRAME,
                "description": "the button's frame, hex (protocol/SPEC.md §2)",
            },
            "received_at": INSTANT,
            "location": nullable(ref("Location")),
        },
    },
    "Receipt": {
        "type": "object",
        "required": [
            "status",
            "type",
            "device_id",
            "counter",
            "committed_at",
            "alarm_id",
            "receipt",
        ],
        "properties": {
            "status": {"enum": ["committed", "duplicate"]},
            "type": {"type": "string"},
            "device_id": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
            "counter": {"type": "integer", "minimum": 1},
            "committed_at": INSTANT,
            "alarm_id": nullable({"type": "integer"}),
            "receipt": {
                "type": "string",
                "pattern": f"^[0-9a-f]{{{2 * wire.RECEIPT_SIZE}}}$",
                "description": "HMAC-SHA256(device key, 'msa-receipt' + the frame's MAC)[:16], "
                "hex (protocol/SPEC.md §5.1): the phone writes it to the button, which then "
                "forgets the frame",
            },
        },
    },
    "Fix": {
        "type": "object",
        "required": ["lat", "lon", "fix_at"],
        "properties": {
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "accuracy_m": nullable({"type": "number", "minimum": 0, "maximum": 1e7}),
            "fix_at": INSTANT,
        },
    },
    "FixReceipt": {
        "type": "object",
        "required": ["status", "alarm_id", "intervention_zone"],
        "properties": {
            "status": {"enum": ["committed", "duplicate"]},
            "alarm_id": {"type": "integer"},
            "intervention_zone": nullable({"type": "string"}),
        },
    },
    "Address": {
        "type": "object",
        "required": ["kind", "address", "valid_from", "valid_until", "lat", "lon", "geo"],
        "properties": {
            "kind": {"enum": ["home", "work", "stay"]},
            "address": {"type": "string"},
            "valid_from": nullable(DAY),
            "valid_until": nullable(DAY),
            "lat": nullable({"type": "number"}),
            "lon": nullable({"type": "number"}),
            "geo": nullable({"type": "string", "pattern": "^geo:"}),
        },
    },
    "Person": {
        "type": "object",
        "required": [*PERSON, "addresses"],
        "properties": {**PERSON, "addresses": {"type": "array", "items": ref("Address")}},
    },
    "Case": {
        "type": "object",
        "required": [
            "id",
            "reference",
            "status",
            "decided_on",
            "ends_on",
            "managing_zone",
            "judicial_district",
            "support_started_on",
            "other_persons",
            "suspect",
        ],
        "properties": {
            "id": {"type": "integer"},
            "reference": {"type": "string"},
            "status": {"type": "string"},
            "decided_on": DAY,
            "ends_on": nullable(DAY),
            "managing_zone": {"type": "string"},
            "judicial_district": {"type": "string"},
            "support_started_on": nullable(DAY),
            "other_persons": {
                "type": "array",
                "description": "the case's other protected persons (confidential: by number)",
                "items": {"type": "object", "required": [*PERSON], "properties": PERSON},
            },
            "suspect": nullable(
                {
                    "type": "object",
                    "required": ["name", "record", "weapons"],
                    "properties": {
                        "name": {"type": "string"},
                        "record": {"type": "string"},
                        "weapons": {
                            "type": "object",
                            "required": ["possession", "description"],
                            "properties": {
                                "possession": {"type": "boolean"},
                                "description": {"type": "string"},
                            },
                        },
                    },
                }
            ),
        },
    },
    "StepDone": {
        "type": "object",
        "required": ["at", "by"],
        "properties": {"at": INSTANT, "by": nullable(OPERATOR_NAME)},
    },
    "Workflow": {
        "type": "object",
        "required": ["acknowledged", "dispatched", "on_scene", "closed"],
        "properties": {
            "acknowledged": nullable(ref("StepDone")),
            "dispatched": nullable(
                {
                    "allOf": [ref("StepDone")],
                    "required": ["patrol", "zone"],
                    "properties": {"patrol": {"type": "string"}, "zone": {"type": "string"}},
                }
            ),
            "on_scene": nullable(ref("StepDone")),
            "closed": nullable(
                {
                    "allOf": [ref("StepDone")],
                    "required": ["outcome", "pv_number"],
                    "properties": {
                        "outcome": {"enum": list(OUTCOMES)},
                        "pv_number": nullable({"type": "string"}),
                    },
                }
            ),
        },
    },
    "TrailPoint": {
        "type": "object",
        "required": ["lat", "lon", "accuracy_m", "fix_at", "received_at", "source", "geo"],
        "properties": {
            "lat": {"type": "number"},
            "lon": {"type": "number"},
            "accuracy_m": nullable({"type": "number"}),
            "fix_at": nullable(INSTANT),
            "received_at": INSTANT,
            "source": {"enum": ["alarm", "update"]},
            "geo": {"type": "string", "pattern": "^geo:"},
        },
    },
    "HistoryEntry": {
        "type": "object",
        "required": ["at", "actor", "by", "action", "detail"],
        "properties": {
            "at": INSTANT,
            "actor": {"type": "string"},
            "by": {"type": "string"},
            "action": {"type": "string"},
            "detail": nullable({"type": "string"}),
        },
    },
    "Magistrate": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"enum": ["not_yet", "not_required", "not_applicable", "queued", "sent"]},
            "recipient": nullable({"type": "string"}),
            "queued_at": INSTANT,
            "sent_at": nullable(INSTANT),
            "attempts": {"type": "integer", "minimum": 0},
            "last_error": nullable({"type": "string"}),
        },
    },
    "Alarm": {
        "type": "object",
        "description": "An alarm as the CIC console sees it (docs/backend.md).",
        "required": [
            "alarm_id",
            "kind",
            "test",
            "headline",
            "status",
            "device_id",
            "counter",
            "battery_mv",
            "person",
            "case",
            "location",
            "pressed_at",
            "received_at",
            "committed_at",
            "revision",
            "workflow",
            "next_steps",
            "trail",
            "intervention_zone",
            "history",
            "magistrate",
        ],
        "properties": {
            "alarm_id": {"type": "integer"},
            "kind": {"enum": ["alarm", "test_alarm"]},
            "test": {"type": "boolean"},
            "headline": {"type": "string"},
            "status": {"enum": ["open", "acknowledged", "dispatched", "on_scene", "closed"]},
            "device_id": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
            "counter": {"type": "integer"},
            "battery_mv": {"type": "integer"},
            "person": ref("Person"),
            "case": ref("Case"),
            "location": nullable(
                {"allOf": [ref("Location")], "required": ["geo"], "properties": {"geo": {}}}
            ),
            "pressed_at": nullable(INSTANT),
            "received_at": INSTANT,
            "committed_at": INSTANT,
            "revision": {"type": "integer", "minimum": 0},
            "workflow": ref("Workflow"),
            "next_steps": {
                "type": "array",
                "items": {"enum": ["acknowledge", "dispatch", "on_scene", "close", "confirm_test"]},
            },
            "trail": {"type": "array", "items": ref("TrailPoint")},
            "intervention_zone": nullable({"type": "string"}),
            "history": {"type": "array", "items": ref("HistoryEntry")},
            "magistrate": ref("Magistrate"),
        },
    },
    "AlarmErrorCard": {
        "type": "object",
        "description": "An alarm that cannot be displayed (a stored value out of every "
        "range, a row that does not load): still an alarm, sent in its place. What can be "
        "read of it, what the operator should do, and the error (also logged).",
        "required": [
            "alarm_id",
            "revision",
            "kind",
            "test",
            "headline",
            "advice",
            "status",
            "next_steps",
            "device_id",
            "person_id",
            "case_id",
            "display_error",
        ],
        "properties": {
            "alarm_id": {"type": "integer"},
            "revision": {"type": "integer"},
            "kind": nullable({"enum": ["alarm", "test_alarm"]}),
            "test": {"type": "boolean"},
            "headline": {"type": "string", "examples": ["STALKING ALARM 12 – CANNOT BE DISPLAYED"]},
            "advice": {"type": "string"},
            "status": nullable({"enum": list(STATUSES)}),
            "next_steps": {"type": "array", "items": {"enum": list(TARGET)}},
            "device_id": nullable({"type": "string", "pattern": "^[0-9a-f]{8}$"}),
            "person_id": nullable({"type": "integer"}),
            "case_id": nullable({"type": "integer"}),
            "display_error": {
                "type": "string",
                "examples": ["OverflowError: date value out of range"],
            },
        },
    },
    "AlarmEvent": {
        "description": "An alarm as it is sent: whole, or as its error card when it "
        "cannot be displayed (the card alone has `display_error`).",
        "oneOf": [ref("Alarm"), ref("AlarmErrorCard")],
    },
    "StepResult": {
        "type": "object",
        "required": ["result", "extended_to", "alarm"],
        "properties": {
            "result": {"enum": ["done", "unchanged"]},
            "extended_to": nullable(DAY),
            "alarm": ref("AlarmEvent"),
        },
    },
    "NoData": {"type": "object", "description": "no fields: the step needs none"},
    "Dispatch": {
        "type": "object",
        "required": ["patrol", "zone"],
        "properties": {
            "patrol": {"type": "string", "minLength": 1, "maxLength": 40},
            "zone": {"type": "string", "description": "a zone of GET /api/v1/zones"},
        },
    },
    "Close": {
        "type": "object",
        "required": ["outcome"],
        "properties": {
            "outcome": {"enum": list(OUTCOMES)},
            "pv_number": nullable(
                {
                    "type": "string",
                    "maxLength": 40,
                    "description": "required for real and misuse",
                }
            ),
        },
    },
    "AlarmAudit": {
        "type": "object",
        "required": ["alarm_id", "audit"],
        "properties": {
            "alarm_id": {"type": "integer"},
            "audit": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["at", "actor", "action", "detail"],
                    "properties": {
                        "at": INSTANT,
                        "actor": {"type": "string"},
                        "action": {"type": "string"},
                        "detail": nullable({"type": "string"}),
                    },
                },
            },
        },
    },
    "LinkReport": {
        "type": "object",
        "required": ["bluetooth_off_at"],
        "properties": {"bluetooth_off_at": INSTANT, "bluetooth_on_at": nullable(INSTANT)},
    },
    "LinkReportReceipt": {
        "type": "object",
        "required": ["status", "off_ms"],
        "properties": {
            "status": {"enum": ["committed", "duplicate"]},
            "off_ms": nullable({"type": "integer", "minimum": 0}),
        },
    },
    "SupervisionEvent": {
        "type": "object",
        "required": [
            "id",
            "kind",
            "device_id",
            "case",
            "person",
            "zone",
            "since",
            "raised_at",
            "detail",
            "advice",
            "acknowledged_at",
            "acknowledged_by",
            "ended_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"enum": list(KINDS)},
            "device_id": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
            "case": {"type": "string"},
            "person": {"type": "string"},
            "zone": {"type": "string"},
            "since": INSTANT,
            "raised_at": INSTANT,
            "detail": {"type": "string"},
            "advice": {"type": "string"},
            "acknowledged_at": nullable(INSTANT),
            "acknowledged_by": nullable(OPERATOR_NAME),
            "ended_at": nullable(INSTANT),
        },
    },
    "SupervisionEvents": {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "items": ref("SupervisionEvent")}},
    },
    "SupervisionAck": {
        "type": "object",
        "required": ["status", "event_id"],
        "properties": {"status": {"enum": ["done", "unchanged"]}, "event_id": {"type": "integer"}},
    },
    "ZoneReports": {
        "type": "object",
        "required": ["reports"],
        "properties": {
            "reports": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "id",
                        "zone",
                        "day",
                        "created_at",
                        "persons",
                        "irregular",
                        "mailed_at",
                    ],
                    "properties": {
                        "id": {"type": "integer"},
                        "zone": {"type": "string"},
                        "day": DAY,
                        "created_at": INSTANT,
                        "persons": {"type": "integer", "minimum": 0},
                        "irregular": {"type": "integer", "minimum": 0},
                        "mailed_at": nullable(INSTANT),
                    },
                },
            }
        },
    },
    "ZoneReport": {
        "type": "object",
        "required": ["zone", "day", "period_start", "period_end", "lines"],
        "properties": {
            "zone": {"type": "string"},
            "day": DAY,
            "period_start": INSTANT,
            "period_end": INSTANT,
            "lines": {"type": "array", "items": ref("ReportLine")},
        },
    },
    "ReportLine": {
        "type": "object",
        "description": "One protected person: the circular's five items, and what to do.",
        "required": [
            "case",
            "person",
            "phone",
            "confidential",
            "device_id",
            "alarms",
            "bluetooth_off_times",
            "bluetooth_off_minutes",
            "battery_pct",
            "heard_in_period",
            "phone_online",
            "irregular",
            "todo",
        ],
        "properties": {
            "case": {"type": "string"},
            "person": {
                "type": "string",
                "description": "the name, or the national "
                "register number when the address is confidential",
            },
            "phone": nullable({"type": "string"}),
            "confidential": {"type": "boolean"},
            "device_id": nullable({"type": "string"}),
            "alarms": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["at", "lat", "lon", "zone", "outcome"],
                    "properties": {
                        "at": INSTANT,
                        "lat": nullable({"type": "number"}),
                        "lon": nullable({"type": "number"}),
                        "zone": nullable({"type": "string"}),
                        "outcome": nullable({"type": "string"}),
                    },
                },
            },
            "bluetooth_off_times": {"type": "integer", "minimum": 0},
            "bluetooth_off_minutes": {"type": "integer", "minimum": 0},
            "battery_pct": nullable({"type": "integer", "minimum": 0, "maximum": 100}),
            "heard_in_period": {"type": "boolean"},
            "phone_online": {"type": "boolean"},
            "irregular": {
                "type": "array",
                "items": {
                    "enum": [
                        "alarm",
                        "bluetooth_off",
                        "phone_offline",
                        "battery_low",
                        "button_silent",
                    ]
                },
            },
            "todo": nullable({"type": "string"}),
        },
    },
    "ZoneCase": {
        "type": "object",
        "required": [
            "id",
            "reference",
            "status",
            "zone",
            "decided_on",
            "ends_on",
            "ended_on",
            "end_reason",
            "last_revisit",
            "last_reevaluation",
            "support_started_on",
            "registrations",
            "tasks",
        ],
        "properties": {
            "id": {"type": "integer"},
            "reference": {"type": "string"},
            "status": {"enum": ["active", "ended"]},
            "zone": {"type": "string"},
            "decided_on": DAY,
            "ends_on": nullable(DAY),
            "ended_on": nullable(DAY),
            "end_reason": nullable({"type": "string"}),
            "last_revisit": nullable(DAY),
            "last_reevaluation": nullable(DAY),
            "support_started_on": nullable(DAY),
            "registrations": {"type": "array", "items": {"type": "string"}},
            "cic_watch": {"type": "boolean"},
            "tasks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "due_on", "text"],
                    "properties": {
                        "kind": {"enum": ["revisit", "reevaluation", "expired"]},
                        "due_on": DAY,
                        "text": {"type": "string"},
                    },
                },
            },
        },
    },
    "ZoneCases": {
        "type": "object",
        "required": ["on", "cases"],
        "properties": {"on": DAY, "cases": {"type": "array", "items": ref("ZoneCase")}},
    },
    "CaseStep": {
        "type": "object",
        "properties": {
            "on": DAY,
            "note": {"type": "string", "maxLength": 500},
            "reason": {"type": "string", "maxLength": 500},
            "watch": {"enum": ["yes", "no"]},
        },
    },
    "CaseStepDone": {
        "type": "object",
        "required": ["case"],
        "properties": {"case": ref("ZoneCase")},
    },
    "Requests": {
        "type": "object",
        "required": ["requests", "cases"],
        "properties": {
            "requests": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "id",
                        "reference",
                        "requested_by",
                        "requested_on",
                        "zone",
                        "district",
                        "risk",
                        "decision",
                        "decided_on",
                        "note",
                    ],
                    "properties": {
                        "id": {"type": "integer"},
                        "reference": {"type": "string"},
                        "requested_by": {"enum": ["person", "police", "prosecutor", "third_party"]},
                        "requested_on": DAY,
                        "zone": {"type": "string"},
                        "district": {"type": "string"},
                        "risk": nullable(
                            {"type": "object", "additionalProperties": {"type": "boolean"}}
                        ),
                        "decision": nullable({"enum": ["refused"]}),
                        "decided_on": nullable(DAY),
                        "note": nullable({"type": "string"}),
                    },
                },
            },
            "cases": {"type": "array", "items": ref("ZoneCase")},
        },
    },
    "Decide": {
        "type": "object",
        "required": ["decision"],
        "properties": {
            "decision": {"enum": ["grant", "refuse"]},
            "on": DAY,
            "note": {"type": "string", "maxLength": 500},
        },
    },
    "Decided": {
        "type": "object",
        "required": ["request", "decision", "ends_on"],
        "properties": {
            "request": {"type": "string"},
            "decision": {"enum": ["granted", "refused"]},
            "ends_on": nullable(DAY),
        },
    },
    "SupportCases": {
        "type": "object",
        "required": ["cases"],
        "properties": {"cases": {"type": "array", "items": {"type": "object"}}},
    },
    "Schedule": {
        "type": "object",
        "required": ["at", "email"],
        "properties": {
            "zone": {"type": "string"},
            "at": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
            "email": {"type": "string"},
        },
    },
    "CheckIn": {"type": "object", "required": ["at"], "properties": {"at": INSTANT}},
    "CheckInReceipt": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"enum": ["committed", "duplicate"]}},
    },
    "Inventory": {
        "type": "object",
        "required": ["districts"],
        "properties": {
            "districts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["district", *STATES, "min_stock", "short"],
                    "properties": {
                        "district": {"type": "string"},
                        **{state: {"type": "integer", "minimum": 0} for state in STATES},
                        "min_stock": {"type": "integer", "minimum": 0},
                        "short": {"type": "boolean"},
                    },
                },
            }
        },
    },
    "Zones": {
        "type": "object",
        "required": ["zones"],
        "properties": {"zones": {"type": "array", "items": {"type": "string"}}},
    },
}


def error(description: str, *codes: str) -> dict[str, Any]:
    """An error answer whose `error` is one of `codes`."""
    schema = {"allOf": [ref("Error")], "properties": {"error": {"enum": list(codes)}}}
    return {"description": description, "content": {JSON: {"schema": schema}}}


def ok(description: str, schema: Schema) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


INTERNAL_ERROR = ok(
    "an unexpected failure of the backend, logged under the request id (failsafe.py)",
    ref("InternalError"),
)
UNAVAILABLE = error("the database cannot commit now: nothing was stored; retry", "unavailable")
BUSY_OR_UNAVAILABLE = error(
    "nothing was stored; retry after Retry-After: the database cannot commit now, or the "
    "backend is at capacity and turns routine frames away (never alarms)",
    "unavailable",
    "busy",
)
PHONE_UNKNOWN = error("no phone token, or an unknown one", "unauthorized")
RETRY_AFTER = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}
THROTTLED = {
    **error(
        "a bearer token from an address with too many failed log-ins: not even looked at; "
        "retry after Retry-After",
        "too_many_failures",
    ),
    "headers": RETRY_AFTER,
}
NOT_AN_OPERATOR = {
    "401": error(
        "no operator token or session, an unknown token, or a session that ended (idle, "
        "over its 12 hours, logged out)",
        "unauthorized",
    ),
    "403": error("an operator of another role", "forbidden"),
    "429": THROTTLED,
}
CROSS_ORIGIN = error(
    "an operator of another role, or a browser session's request whose Origin (or Referer) "
    "is not the console's own",
    "forbidden",
    "cross_origin",
)
ALARM_ID = {
    "name": "alarm_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
}
EVENT_ID = {**ALARM_ID, "name": "event_id"}
REPORT_ID = {**ALARM_ID, "name": "report_id"}
REQUEST_ID = {**ALARM_ID, "name": "request_id"}
CASE_ID = {**ALARM_ID, "name": "case_id"}
CASE_STEPS = {
    "revisit": "The zone revisited the person (every 3 months); `on` defaults to today.",
    "reevaluation": "The zone re-evaluated the measure (the month before its end).",
    "extend": "Nine months more on new facts (the magistrate's decision): `reason` required.",
    "cic-watch": "Show the CIC the case's supervision events (`watch`: yes), or stop (no).",
}
OPERATOR = [{"operatorToken": []}, {"consoleSession": []}]
PHONE = [{"phoneToken": []}]

# Each step: what it does, its body, and why it may be refused (409) — none for
# the first step: an acknowledgement once taken is only ever `unchanged`.
STEPS: dict[str, tuple[str, Schema, tuple[str, ...]]] = {
    "acknowledge": ("The operator has the alarm: open → acknowledged.", ref("NoData"), ()),
    "dispatch": (
        "A patrol goes: acknowledged → dispatched.",
        ref("Dispatch"),
        ("invalid_transition", "already_dispatched", "test_alarm"),
    ),
    "on-scene": (
        "The patrol is there: dispatched → on_scene.",
        ref("NoData"),
        ("invalid_transition", "test_alarm"),
    ),
    "close": (
        "Closed with an outcome and a PV: on_scene → closed. A real alarm extends the "
        "measure by nine months; the magistrate is mailed unless the outcome is false. "
        "Never without a dispatched patrol.",
        ref("Close"),
        ("invalid_transition", "already_closed", "test_alarm"),
    ),
    "confirm-test": (
        "A provisioning test alarm confirmed: acknowledged → closed; support starts.",
        ref("NoData"),
        ("invalid_transition", "not_a_test"),
    ),
}


def _step(name: str, description: str, body: Schema, refusals: tuple[str, ...]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": ok(
            "taken (`done`), or taken before with the same data (`unchanged`)", ref("StepResult")
        ),
        "400": error("a missing or malformed field, or an unknown zone", "invalid_request"),
        **NOT_AN_OPERATOR,
        "403": CROSS_ORIGIN,
        "404": error("no such alarm", "unknown_alarm"),
        "415": error("the body is not application/json", "unsupported_media_type"),
        "503": UNAVAILABLE,
    }
    if refusals:
        responses["409"] = error(
            "may not be taken now (out of order, or a repeat with other data); nothing changed",
            *refusals,
        )
    return {
        "post": {
            "operationId": name.replace("-", "_"),
            "summary": description,
            "tags": ["operator workflow"],
            "security": OPERATOR,
            "parameters": [ALARM_ID],
            "requestBody": {"required": False, "content": {JSON: {"schema": body}}},
            "responses": responses,
        }
    }


def page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def to_console(description: str, *homes: str) -> dict[str, Any]:
    """A 303 to the console (or, after a log-in, the page of the operator's role)."""
    where = {"enum": ["/console", *homes]} if homes else {"const": "/console"}
    return {"description": description, "headers": {"Location": {"schema": where}}}


# The console's pages (login.py): HTML for a person, not JSON.
def operator_page(operation_id: str, summary: str, what: str) -> dict[str, Any]:
    """A page for a logged-in operator, and the pages that say why not."""
    return {
        "get": {
            "operationId": operation_id,
            "summary": f"{summary}, for a logged-in operator.",
            "tags": ["console pages"],
            "security": OPERATOR,
            "responses": {
                "200": page(what),
                "401": page("not logged in, or the session ended: how to log in"),
                "403": page("an operator of another role"),
                "429": {
                    **page("a bearer token from an address with too many failed log-ins"),
                    "headers": RETRY_AFTER,
                },
            },
        }
    }


def form_post(
    operation_id: str, summary: str, parameter: dict[str, Any], done: str, refusals: dict[str, str]
) -> dict[str, Any]:
    """A page's form: back to its page (303) when done, else a page that says why."""
    return {
        "post": {
            "operationId": operation_id,
            "summary": f"{summary} Back to the page.",
            "tags": ["console pages"],
            "security": OPERATOR,
            "parameters": [parameter],
            "responses": {
                "303": {"description": f"{done}: back to the page"},
                "401": page("not logged in, or the session ended: how to log in"),
                "403": page("another role, or another origin"),
                **{status: page(text) for status, text in refusals.items()},
                "429": {
                    **page("a bearer token from an address with too many failed log-ins"),
                    "headers": RETRY_AFTER,
                },
            },
        }
    }


PAGES: dict[str, Any] = {
    "/console": operator_page("console_page", "The CIC console page", "the console"),
    "/inventory": operator_page(
        "inventory_page", "The inventory page (buttons per judicial district)", "the inventory"
    ),
    "/zone": operator_page(
        "zone_page", "The zone officer's supervision page (role zone_officer)", "the events"
    ),
    "/zone/reports": operator_page(
        "zone_reports_page", "The zone's daily reports (role zone_officer)", "the reports"
    ),
    "/zone/reports/{report_id}": {
        "get": {
            **(
                report_page := operator_page(
                    "zone_report_page", "One daily report (role zone_officer)", "the report"
                )["get"]
            ),
            "parameters": [REPORT_ID],
            "responses": {**report_page["responses"], "404": page("no such report in the zone")},
        }
    },
    **{
        f"/zone/cases/{{case_id}}/{name}": form_post(
            f"case_{name}_form",
            f"The zone page's form: {text}",
            CASE_ID,
            "recorded",
            {
                "400": "a bad form: a day out of range, no reason",
                "404": "no such case in the zone",
                "409": "the case has ended",
            },
        )
        for name, text in CASE_STEPS.items()
    },
    "/zone/reports/schedule": {
        "post": {
            **form_post(
                "zone_report_schedule_form",
                "The reports page's Save button.",
                EVENT_ID,
                "saved",
                {"400": "a time that is not HH:MM, or no mail address"},
            )["post"],
            "parameters": [],
        }
    },
    "/magistrate": operator_page(
        "magistrate_page", "The magistrate's requests and cases (role magistrate)", "the page"
    ),
    "/support": operator_page(
        "support_page", "Victim support's persons (role victim_support)", "the page"
    ),
    "/magistrate/requests/{request_id}/decide": form_post(
        "decide_request_form",
        "The magistrate page's Grant and Refuse buttons.",
        REQUEST_ID,
        "decided",
        {
            "400": "a bad form: no decision, a refusal without a note",
            "404": "no such request in the district",
            "409": "not assessed yet, or granted already",
        },
    ),
    "/zone/events/{event_id}/acknowledge": form_post(
        "acknowledge_supervision_form",
        "The zone page's Acknowledge button.",
        EVENT_ID,
        "acknowledged (or it was before)",
        {"404": "no such event"},
    ),
    "/console/login": {
        "get": {
            "operationId": "log_in",
            "summary": "Open a single-use log-in link (`msa backend login-link NAME`): sets "
            "the session cookie (HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS).",
            "tags": ["console pages"],
            "security": [],
            "parameters": [
                {"name": "code", "in": "query", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "303": to_console(
                    "logged in: the session cookie is set; each role lands on its page",
                    "/zone",
                    "/magistrate",
                    "/inventory",
                    "/support",
                ),
                "400": page("no code in the link"),
                "401": page("a code unknown, used already or expired: refused, logged, counted"),
                "429": {
                    **page("too many failed log-ins from this address"),
                    "headers": RETRY_AFTER,
                },
            },
        }
    },
    "/console/logout": {
        "get": {
            "operationId": "log_out_page",
            "summary": "A page with the log-out button.",
            "tags": ["console pages"],
            "security": [],
            "responses": {"200": page("the log-out button")},
        },
        "post": {
            "operationId": "log_out",
            "summary": "End the session in the database and drop the cookie.",
            "tags": ["console pages"],
            "security": [{"consoleSession": []}, {}],
            "responses": {
                "303": to_console("logged out (also when the session had ended already)"),
                "403": page("the Origin (or Referer) is not the console's own: nothing ended"),
            },
        },
    },
}


ZONE_OFFICER_ONLY = {
    "401": NOT_AN_OPERATOR["401"],
    "403": error("not a zone officer", "forbidden"),
    "429": THROTTLED,
    "503": UNAVAILABLE,
}


def _case_step(name: str, summary: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"case_{name.replace('-', '_')}",
            "summary": summary,
            "tags": ["cases"],
            "security": OPERATOR,
            "parameters": [CASE_ID],
            "requestBody": {"required": False, "content": {JSON: {"schema": ref("CaseStep")}}},
            "responses": {
                "200": ok("recorded (or recorded before): the case now", ref("CaseStepDone")),
                "400": error("a bad body: a day out of range, no reason", "invalid_request"),
                "404": error("no such case in the officer's zone", "unknown_case"),
                "409": error("the case has ended", "case_ended"),
                **ZONE_OFFICER_ONLY,
                "403": error("not a zone officer, or another origin", "forbidden", "cross_origin"),
            },
        }
    }


ROLE_ONLY = {
    "401": NOT_AN_OPERATOR["401"],
    "403": error("another role, or an operator without a district", "forbidden"),
    "429": THROTTLED,
    "503": UNAVAILABLE,
}
DISTRICT: dict[str, Any] = {
    "/api/v1/requests": {
        "get": {
            "operationId": "requests",
            "summary": "The magistrate's district: its requests to decide (or refused), and "
            "its active cases with the prosecutor's registrations; each case read is audited.",
            "tags": ["cases"],
            "security": OPERATOR,
            "responses": {"200": ok("the requests and cases", ref("Requests")), **ROLE_ONLY},
        }
    },
    "/api/v1/requests/{request_id}/decide": {
        "post": {
            "operationId": "decide_request",
            "summary": "The magistrate grants (9 months from `on`) or refuses (with a `note`).",
            "tags": ["cases"],
            "security": OPERATOR,
            "parameters": [REQUEST_ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": ref("Decide")}}},
            "responses": {
                "200": ok("decided", ref("Decided")),
                "400": error("a bad body", "invalid_request"),
                "404": error("no such request in the district", "unknown_request"),
                "409": error(
                    "not assessed yet, or granted already", "not_assessed", "already_granted"
                ),
                **ROLE_ONLY,
                "403": error("another role, or another origin", "forbidden", "cross_origin"),
            },
        }
    },
    "/api/v1/support/cases": {
        "get": {
            "operationId": "support_cases",
            "summary": "Victim support's district: the protected persons, their phones and "
            "addresses, confidential ones included; each case read is audited.",
            "tags": ["cases"],
            "security": OPERATOR,
            "responses": {"200": ok("the cases", ref("SupportCases")), **ROLE_ONLY},
        }
    },
}
SUPERVISION: dict[str, Any] = {
    "/api/v1/zone-cases": {
        "get": {
            "operationId": "zone_cases",
            "summary": "The officer's zone's active cases, with what is due today; each read "
            "is audited.",
            "tags": ["cases"],
            "security": OPERATOR,
            "responses": {"200": ok("the cases", ref("ZoneCases")), **ZONE_OFFICER_ONLY},
        }
    },
    **{
        f"/api/v1/cases/{{case_id}}/{name}": _case_step(name, text)
        for name, text in CASE_STEPS.items()
    },
    "/api/v1/zone-reports": {
        "get": {
            "operationId": "zone_reports",
            "summary": "The zone officer's zone's daily reports, newest first (the last 60).",
            "tags": ["supervision"],
            "security": OPERATOR,
            "responses": {"200": ok("the reports", ref("ZoneReports")), **ZONE_OFFICER_ONLY},
        }
    },
    "/api/v1/zone-reports/schedule": {
        "post": {
            "operationId": "zone_report_schedule",
            "summary": "The zone officer sets when (Brussels time) and to whom the zone's daily "
            "report is mailed.",
            "tags": ["supervision"],
            "security": OPERATOR,
            "requestBody": {"required": True, "content": {JSON: {"schema": ref("Schedule")}}},
            "responses": {
                "200": ok("saved", ref("Schedule")),
                "400": error("a time that is not HH:MM, or no mail address", "invalid_request"),
                **ZONE_OFFICER_ONLY,
                "403": error("not a zone officer, or another origin", "forbidden", "cross_origin"),
            },
        }
    },
    "/api/v1/zone-reports/{report_id}": {
        "get": {
            "operationId": "zone_report",
            "summary": "One daily report of the officer's zone, as it was mailed.",
            "tags": ["supervision"],
            "security": OPERATOR,
            "parameters": [REPORT_ID],
            "responses": {
                "200": ok("the report", ref("ZoneReport")),
                "404": error("no such report in the officer's zone", "unknown_report"),
                **ZONE_OFFICER_ONLY,
            },
        }
    },
    "/api/v1/supervision": {
        "get": {
            "operationId": "supervision_events",
            "summary": "The supervision events open or not acknowledged: a zone officer's "
            "zone's, or for a CIC operator those of the cases their zones show the CIC.",
            "tags": ["supervision"],
            "security": OPERATOR,
            "responses": {
                "200": ok("newest first, at most 500", ref("SupervisionEvents")),
                "401": NOT_AN_OPERATOR["401"],
                "429": THROTTLED,
                "503": UNAVAILABLE,
            },
        }
    },
    "/api/v1/supervision/{event_id}/acknowledge": {
        "post": {
            "operationId": "acknowledge_supervision",
            "summary": "Say the event is taken care of (once; again is `unchanged`).",
            "tags": ["supervision"],
            "security": OPERATOR,
            "parameters": [EVENT_ID],
            "responses": {
                "200": ok("acknowledged now, or before", ref("SupervisionAck")),
                **NOT_AN_OPERATOR,
                "403": error(
                    "another role, another zone's event (or an unwatched case's, for the CIC), "
                    "or a browser's request from another origin",
                    "forbidden",
                    "not_your_event",
                    "cross_origin",
                ),
                "404": error("no such event", "unknown_event"),
                "503": UNAVAILABLE,
            },
        }
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the backend's HTTP API."""
    paths: dict[str, Any] = {
        "/api/v1/frames": {
            "post": {
                "operationId": "post_frame",
                "summary": "The phone hands over a button frame (protocol/SPEC.md §7).",
                "tags": ["phone"],
                "security": PHONE,
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("FrameRequest")}},
                },
                "responses": {
                    "200": ok("committed now, or a duplicate of a committed frame", ref("Receipt")),
                    "400": error(
                        "a bad body or frame, or a time out of range (never for an alarm: "
                        "SPEC §7.3)",
                        "invalid_request",
                        "malformed_frame",
                        "invalid_time",
                    ),
                    "401": error("no phone token, or an unknown one", "unauthorized"),
                    "403": error(
                        "the device is not linked to this phone, the frame's key epoch is not "
                        "this token's, or its key was revoked (SPEC §4)",
                        "device_not_linked",
                        "wrong_epoch",
                        "key_revoked",
                    ),
                    "404": error("no such device", "unknown_device"),
                    "409": error("another frame with this counter was committed", "counter_reused"),
                    "422": error("the MAC does not verify", "bad_mac"),
                    "501": error(
                        "the frame's version is newer than this backend's: the phone keeps it "
                        "and retries with back-off",
                        "unsupported_version",
                    ),
                    "503": BUSY_OR_UNAVAILABLE,
                },
            }
        },
        "/api/v1/link-reports": {
            "post": {
                "operationId": "post_link_report",
                "summary": "A period with Bluetooth off: when it starts (no end yet), and when "
                "it ends (SPEC §7.2).",
                "tags": ["phone"],
                "security": PHONE,
                "requestBody": {"required": True, "content": {JSON: {"schema": ref("LinkReport")}}},
                "responses": {
                    "200": ok("committed now, or the same report again", ref("LinkReportReceipt")),
                    "400": error(
                        "a bad body, or a time out of range", "invalid_request", "invalid_time"
                    ),
                    "401": PHONE_UNKNOWN,
                    "409": error("the same start with another end", "report_conflict"),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/check-ins": {
            "post": {
                "operationId": "post_check_in",
                "summary": "The phone is online (SPEC §7.2).",
                "tags": ["phone"],
                "security": PHONE,
                "requestBody": {"required": True, "content": {JSON: {"schema": ref("CheckIn")}}},
                "responses": {
                    "200": ok("committed now, or the same check-in again", ref("CheckInReceipt")),
                    "400": error(
                        "a bad body, or a time out of range", "invalid_request", "invalid_time"
                    ),
                    "401": PHONE_UNKNOWN,
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/alarms/{alarm_id}/locations": {
            "post": {
                "operationId": "post_fix",
                "summary": "The phone's position during an alarm, for the trail.",
                "tags": ["phone"],
                "security": PHONE,
                "parameters": [ALARM_ID],
                "requestBody": {"required": True, "content": {JSON: {"schema": ref("Fix")}}},
                "responses": {
                    "200": ok("stored, or a duplicate of a stored fix", ref("FixReceipt")),
                    "400": error(
                        "a bad body, or a fix time out of range", "invalid_request", "invalid_time"
                    ),
                    "401": error("no phone token, or an unknown one", "unauthorized"),
                    "403": error("not this phone's alarm", "not_your_alarm"),
                    "404": error("no such alarm", "unknown_alarm"),
                    "409": error("the alarm is closed: drop the fix", "alarm_closed"),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/alarms/{alarm_id}": {
            "get": {
                "operationId": "read_alarm",
                "summary": "One alarm with its case context (audited as a read).",
                "tags": ["console"],
                "security": OPERATOR,
                "parameters": [ALARM_ID],
                "responses": {
                    "200": ok("the alarm, or its error card", ref("AlarmEvent")),
                    **NOT_AN_OPERATOR,
                    "404": error("no such alarm", "unknown_alarm"),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/alarms/{alarm_id}/audit": {
            "get": {
                "operationId": "alarm_audit",
                "summary": "Everything audited about one alarm, oldest first.",
                "tags": ["console"],
                "security": OPERATOR,
                "parameters": [ALARM_ID],
                "responses": {
                    "200": ok("the audit trail", ref("AlarmAudit")),
                    **NOT_AN_OPERATOR,
                    "404": error("no such alarm", "unknown_alarm"),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/zones": {
            "get": {
                "operationId": "list_zones",
                "summary": "The police zones a patrol can be dispatched from.",
                "tags": ["console"],
                "security": OPERATOR,
                "responses": {
                    "200": ok("the zones' names", ref("Zones")),
                    **NOT_AN_OPERATOR,
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/inventory": {
            "get": {
                "operationId": "inventory",
                "summary": "The buttons per judicial district by inventory state, its reorder "
                "level and whether it is short (msa inventory --json).",
                "tags": ["tech desk"],
                "security": OPERATOR,
                "responses": {
                    "200": ok("the districts", ref("Inventory")),
                    **NOT_AN_OPERATOR,
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/console/stream": {
            "get": {
                "operationId": "console_stream",
                "summary": "Server-sent events: `security` (a lost or stolen button's refused "
                "frame: the newest 20 on connect, then each new one), `alarm` (each alarm not "
                "closed on connect, then each new one; its SSE id is the alarm's), `ready`, "
                "`update` (a change to an alarm); an alarm's data: an AlarmEvent (an Alarm, or "
                "the error card of one that cannot be displayed). A console reconnecting with "
                "`Last-Event-ID` (to this node or another) is also sent the alarms after it, "
                "closed meanwhile or not (500 at most).",
                "tags": ["console"],
                "security": OPERATOR,
                "parameters": [
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the event stream, open until the backend stops",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "400": error("a Last-Event-ID that is not an alarm id", "bad_last_event_id"),
                    **NOT_AN_OPERATOR,
                    "503": UNAVAILABLE,
                },
            }
        },
        **PAGES,
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This description.",
                "tags": ["meta"],
                "security": [],
                "responses": {"200": ok("OpenAPI 3.1", {"type": "object"})},
            }
        },
    }
    for name, (description, body, refusals) in STEPS.items():
        paths[f"/api/v1/alarms/{{alarm_id}}/{name}"] = _step(name, description, body, refusals)
    paths.update(SUPERVISION)
    paths.update(DISTRICT)
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"]["500"] = INTERNAL_ERROR
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "msa backend",
            "version": "1",
            "summary": "Mobile stalking alarm: the phones' API and the CIC console's.",
            "description": 'Errors are `{"error": CODE, "detail": sentence}`; see '
            "docs/backend.md. Every answer carries an `X-Request-Id`. Bodies are at most "
            "a few KiB, nest at most 8 levels and hold no number longer than 32 characters. "
            "An alarm cannot be cancelled: there is no such operation.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "phoneToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the phone's token, issued at provisioning",
                },
                "operatorToken": {"type": "http", "scheme": "bearer"},
                "consoleSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "msa_console",
                    "description": "a session opened by a log-in link; a state-changing "
                    "request must come from the console's own Origin",
                },
            },
        },
    }


async def serve_document(_request: Request) -> JSONResponse:
    return JSONResponse(document())


routes = [Route("/api/v1/openapi.json", serve_document)]
