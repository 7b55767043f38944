"""The OpenAPI 3.1 description of the JSON booking API (served at `/openapi.json` of the API)."""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]

SLOT = {
    "type": "object",
    "required": ["service_id", "start", "end", "resource_ids"],
    "properties": {
        "service_id": {"type": "string"},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "resource_ids": {"type": "array", "items": {"type": "string"}},
        "buffer_before_s": {"type": "number"},
        "buffer_after_s": {"type": "number"},
    },
}
APPOINTMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {
            "type": "string",
            "enum": [
                "proposed",
                "pending",
                "booked",
                "arrived",
                "fulfilled",
                "cancelled",
                "noshow",
                "entered-in-error",
                "checked-in",
                "waitlist",
            ],
        },
        "booking_code": {"type": "string", "example": "ACEF-GHJK"},
        "patient": {"type": "string"},
        "slot": {"$ref": "#/components/schemas/Slot"},
        "rescheduled_from": {"type": ["string", "null"]},
    },
}
JOIN = {
    "type": "object",
    "description": "the patient's join token for the signaling server (valid around the slot)",
    "properties": {
        "url": {"type": "string", "example": "wss://session.clinic.example/ws/room-1/4f0c..."},
        "token": {"type": "string", "description": "compact JWS (Ed25519)"},
    },
}
HOLD = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "expires_at": {"type": "string", "format": "date-time"},
        "slot": {"$ref": "#/components/schemas/Slot"},
    },
}
PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string", "example": "SlotUnavailable"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


_APPOINTMENT_REF = {"$ref": "#/components/schemas/Appointment"}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "telemedroom booking API", "version": "1.0.0"},
    "paths": {
        "/services": {
            "get": {"summary": "Bookable services", "responses": {"200": {"description": "services"}}}
        },
        "/slots": {
            "get": {
                "summary": "Free slots of a service",
                "parameters": [
                    {"name": "service", "in": "query", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "from",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "date-time"},
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "date-time"},
                    },
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {
                    "200": {
                        "description": "slots, earliest first",
                        **_json({"type": "array", "items": {"$ref": "#/components/schemas/Slot"}}),
                    },
                    "422": _problem("bad query"),
                },
            }
        },
        "/holds": {
            "post": {
                "summary": "Hold a slot for a few minutes during the booking dialog",
                "requestBody": _json(
                    {"type": "object", "properties": {"slot": {"$ref": "#/components/schemas/Slot"}}}
                ),
                "responses": {
                    "201": {"description": "held", **_json({"$ref": "#/components/schemas/Hold"})},
                    "409": _problem("slot taken"),
                },
            }
        },
        "/appointments": {
            "post": {
                "summary": "Book a slot or a hold; repeat safely with the same Idempotency-Key",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": _json(
                    {
                        "type": "object",
                        "required": ["patient"],
                        "properties": {
                            "patient": {"type": "string"},
                            "slot": {"$ref": "#/components/schemas/Slot"},
                            "hold_id": {"type": "string"},
                        },
                    }
                ),
                "responses": {
                    "201": {"description": "booked", **_json(_APPOINTMENT_REF)},
                    "409": _problem("slot taken"),
                    "410": _problem("hold expired"),
                    "422": _problem("bad request or idempotency key reused"),
                },
            }
        },
        "/appointments/{id}": {
            "get": {
                "summary": "An appointment",
                "parameters": _ID,
                "responses": {
                    "200": {"description": "the appointment", **_json(_APPOINTMENT_REF)},
                    "404": _problem("unknown"),
                },
            }
        },
        "/appointments/{id}/fhir": {
            "get": {
                "summary": "As a FHIR R4B Appointment",
                "parameters": _ID,
                "responses": {"200": {"description": "FHIR Appointment"}},
            }
        },
        "/appointments/{id}/calendar.ics": {
            "get": {
                "summary": "As iCalendar (no health data)",
                "parameters": _ID,
                "responses": {"200": {"description": "text/calendar"}},
            }
        },
        "/appointments/{id}/cancel": {
            "post": {
                "summary": "Cancel",
                "parameters": _ID,
                "responses": {
                    "200": {"description": "cancelled", **_json(_APPOINTMENT_REF)},
                    "409": _problem("cannot be cancelled"),
                },
            }
        },
        "/appointments/{id}/reschedule": {
            "post": {
                "summary": "Move to another slot atomically",
                "parameters": _ID,
                "requestBody": _json(
                    {"type": "object", "properties": {"slot": {"$ref": "#/components/schemas/Slot"}}}
                ),
                "responses": {
                    "201": {"description": "the new appointment", **_json(_APPOINTMENT_REF)},
                    "409": _problem("slot taken"),
                },
            }
        },
        "/check-in": {
            "post": {
                "summary": "Kiosk check-in with the booking code; returns the room's join token",
                "requestBody": _json({"type": "object", "properties": {"booking_code": {"type": "string"}}}),
                "responses": {
                    "200": {
                        "description": "checked in; with a join-token issuer, also where and how to join",
                        **_json(
                            {
                                "allOf": [
                                    _APPOINTMENT_REF,
                                    {"type": "object", "properties": {"join": JOIN}},
                                ]
                            }
                        ),
                    },
                    "404": _problem("unknown code"),
                },
            }
        },
        "/publish/$bulk-publish": {
            "get": {
                "summary": "SMART Scheduling Links manifest",
                "responses": {"200": {"description": "manifest"}},
            }
        },
    },
    "components": {"schemas": {"Slot": SLOT, "Appointment": APPOINTMENT, "Hold": HOLD, "Problem": PROBLEM}},
}
