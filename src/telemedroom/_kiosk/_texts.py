"""Every string the kiosk page shows: one table per language, served as ``/kiosk/texts.json``.

The page holds no text of its own; it looks each key up here (``{name}`` placeholders are
filled in by the page). The facial protocol's instructions come from
:data:`telemedroom.exams.PROTOCOL`, so the kiosk and the physician's console say the same.
Instruction keys (``put_on_cuff``, ...) are those of the room's ``DeviceStep`` events
(:data:`telemedroom.room.DEVICE_GUIDE`), each with a ``<key>_hint`` line below it.

Examples:
    >>> TEXTS["de"]["put_on_cuff"]
    'Legen Sie die Manschette an'
    >>> TEXTS["en"]["exam_smile-with-teeth"]
    'Smile broadly with your mouth open, showing your teeth.'
    >>> sorted(TEXTS["de"]) == sorted(TEXTS["en"])
    True
"""

# Typography of both languages: en dashes and ellipses are meant.
# ruff: noqa: RUF001

from __future__ import annotations

from typing import Final, Literal

from telemedroom.exams import PROTOCOL

__all__ = ["LANGUAGES", "TEXTS", "Language"]

Language = Literal["de", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("de", "en")

_EN: Final[dict[str, str]] = {
    "title": "Telemedicine room",
    "other_language": "Deutsch",
    "other_language_label": "Auf Deutsch umschalten",
    "welcome_title": "Welcome",
    "welcome_text": "Please enter the booking code from your appointment confirmation.",
    "code_label": "Booking code",
    "check_in": "Check in",
    "checking_in": "Checking in…",
    "rejected_unknown_code": "We could not find this booking code. Please check it and try again.",
    "rejected_too_many_attempts": "Too many attempts. Please wait a moment or ask the staff for help.",
    "rejected_not_now": "Your appointment is not now. Please come back at your appointment time.",
    "rejected_busy": "The room is busy right now. Please wait a moment.",
    "rejected_invalid_code": "Please enter the booking code.",
    "rejected_other": "Check-in did not work. Please ask the staff for help.",
    "checked_in_title": "You are checked in",
    "checked_in_text": "We will now take a few measurements, one device after the other.",
    "progress_label": "Progress of the measurements",
    "step_of": "Step {index} of {total}",
    "attempt": "Attempt {attempt}",
    "retry": "That did not work. Let us try once more.",
    "put_on_cuff": "Put on the cuff",
    "put_on_cuff_hint": "Wrap the cuff around your upper arm, sit still and rest your arm on the table.",
    "clip_oximeter": "Clip the sensor onto your finger",
    "clip_oximeter_hint": "Put the clip on your index finger and keep your hand still.",
    "thermometer_ear": "Measure your temperature in the ear",
    "thermometer_ear_hint": "Put the thermometer gently into your ear and press the button.",
    "step_on_scale": "Step on the scale",
    "step_on_scale_hint": "Take off your shoes and stand still in the middle of the scale.",
    "glucometer_transfer": "Transfer your blood glucose readings",
    "glucometer_transfer_hint": "Switch on your blood glucose meter; its readings are sent automatically.",
    "wear_heart_rate_strap": "Put on the chest strap",
    "wear_heart_rate_strap_hint": "Moisten the strap and wear it just below your chest.",
    "device_blood_pressure": "Blood pressure",
    "device_pulse_oximeter": "Oxygen saturation",
    "device_thermometer": "Temperature",
    "device_scale": "Weight",
    "device_glucometer": "Blood glucose",
    "device_heart_rate": "Heart rate",
    "status_waiting": "waiting",
    "status_connecting": "connecting",
    "status_measuring": "measuring",
    "status_done": "done",
    "status_failed": "failed",
    "status_skipped": "skipped",
    "waiting_title": "Waiting room",
    "waiting_position": "You are number {position} in line.",
    "waiting_next": "Your physician will be with you shortly.",
    "consultation_title": "Consultation",
    "physician_joined": "{physician} has joined.",
    "physician_joined_anonymous": "Your physician has joined.",
    "self_view_label": "Your camera",
    "physician_video_label": "Your physician",
    "video_unavailable": "Video is not available.",
    "hear_physician": "Tap to hear the doctor",
    # a multi-party visit: who is in it and who speaks (ParticipantsChanged)
    "participants_title": "In this consultation",
    "role_physician": "Physician",
    "role_interpreter": "Interpreter",
    "role_companion": "Companion",
    "speaking": "speaking",
    "participant_speaking": "{name} ({role}) is speaking.",
    "participant_joined": "{name} ({role}) has joined.",
    "exam_title": "Facial examination",
    "exam_get_ready": "Photo in {seconds}",
    "exam_capture": "Hold still – photo now",
    "exam_done": "Done – thank you!",
    "snapshot_taken": "A photo was taken.",
    "wrapped_up_title": "Thank you!",
    "wrapped_up_text": "Your visit is complete. Your readings have been sent to your practice.",
    "wrapped_up_counts": "Readings saved: {observations}. Photos saved: {media}.",
    "goodbye": "Please remember your belongings. Goodbye!",
    "cleaning_title": "The room is being cleaned",
    "cleaning_text": "Available again at {time}.",
    "error_title": "Something went wrong",
    "error_text": "The staff have been informed. Please wait a moment.",
    "connection_lost": "Connection to the room lost – reconnecting…",
    "operator_title": "For the staff: records not delivered",
    "record_rejected": "Outbox row {row}: refused by the clinic's FHIR server (HTTP {status}).",
    "record_rejected_reason": "The server's reason: {reason}",
    "record_rejected_fix": "The record is kept. Fix the cause, then run: telemedroom outbox requeue {row}",
}

_DE: Final[dict[str, str]] = {
    "title": "Telemedizin-Raum",
    "other_language": "English",
    "other_language_label": "Switch to English",
    "welcome_title": "Willkommen",
    "welcome_text": "Bitte geben Sie den Buchungscode aus Ihrer Terminbestätigung ein.",
    "code_label": "Buchungscode",
    "check_in": "Anmelden",
    "checking_in": "Anmeldung läuft …",
    "rejected_unknown_code": (
        "Diesen Buchungscode haben wir nicht gefunden. Bitte prüfen Sie ihn und versuchen Sie es erneut."
    ),
    "rejected_too_many_attempts": (
        "Zu viele Versuche. Bitte warten Sie einen Moment oder fragen Sie das Personal."
    ),
    "rejected_not_now": "Ihr Termin ist nicht jetzt. Bitte kommen Sie zu Ihrer Terminzeit wieder.",
    "rejected_busy": "Der Raum ist gerade belegt. Bitte warten Sie einen Moment.",
    "rejected_invalid_code": "Bitte geben Sie den Buchungscode ein.",
    "rejected_other": "Die Anmeldung hat nicht geklappt. Bitte fragen Sie das Personal.",
    "checked_in_title": "Sie sind angemeldet",
    "checked_in_text": "Wir messen jetzt einige Werte, ein Gerät nach dem anderen.",
    "progress_label": "Fortschritt der Messungen",
    "step_of": "Schritt {index} von {total}",
    "attempt": "Versuch {attempt}",
    "retry": "Das hat nicht geklappt. Wir versuchen es noch einmal.",
    "put_on_cuff": "Legen Sie die Manschette an",
    "put_on_cuff_hint": (
        "Legen Sie die Manschette um den Oberarm, sitzen Sie ruhig und legen Sie den Arm auf den Tisch."
    ),
    "clip_oximeter": "Stecken Sie den Sensor auf Ihren Finger",
    "clip_oximeter_hint": "Stecken Sie den Clip auf den Zeigefinger und halten Sie die Hand ruhig.",
    "thermometer_ear": "Messen Sie Ihre Temperatur im Ohr",
    "thermometer_ear_hint": "Führen Sie das Thermometer sanft ins Ohr ein und drücken Sie die Taste.",
    "step_on_scale": "Stellen Sie sich auf die Waage",
    "step_on_scale_hint": "Ziehen Sie die Schuhe aus und stehen Sie ruhig in der Mitte der Waage.",
    "glucometer_transfer": "Übertragen Sie Ihre Blutzuckerwerte",
    "glucometer_transfer_hint": (
        "Schalten Sie Ihr Blutzuckermessgerät ein; die Werte werden automatisch übertragen."
    ),
    "wear_heart_rate_strap": "Legen Sie den Brustgurt an",
    "wear_heart_rate_strap_hint": "Befeuchten Sie den Gurt und tragen Sie ihn direkt unter der Brust.",
    "device_blood_pressure": "Blutdruck",
    "device_pulse_oximeter": "Sauerstoffsättigung",
    "device_thermometer": "Temperatur",
    "device_scale": "Gewicht",
    "device_glucometer": "Blutzucker",
    "device_heart_rate": "Herzfrequenz",
    "status_waiting": "wartet",
    "status_connecting": "verbindet",
    "status_measuring": "misst",
    "status_done": "fertig",
    "status_failed": "fehlgeschlagen",
    "status_skipped": "übersprungen",
    "waiting_title": "Wartezimmer",
    "waiting_position": "Sie sind an Position {position}.",
    "waiting_next": "Ihre Ärztin oder Ihr Arzt ist gleich für Sie da.",
    "consultation_title": "Sprechstunde",
    "physician_joined": "{physician} ist jetzt für Sie da.",
    "physician_joined_anonymous": "Ihre Ärztin oder Ihr Arzt ist jetzt für Sie da.",
    "self_view_label": "Ihre Kamera",
    "physician_video_label": "Ihre Ärztin oder Ihr Arzt",
    "video_unavailable": "Video ist nicht verfügbar.",
    "hear_physician": "Tippen, um die Ärztin oder den Arzt zu hören",
    # ein Gespräch mit mehreren: wer dabei ist und wer spricht (ParticipantsChanged)
    "participants_title": "In diesem Gespräch",
    "role_physician": "Ärztin/Arzt",
    "role_interpreter": "Dolmetscher/in",
    "role_companion": "Begleitperson",
    "speaking": "spricht",
    "participant_speaking": "{name} ({role}) spricht.",
    "participant_joined": "{name} ({role}) ist dabei.",
    "exam_title": "Gesichtsuntersuchung",
    "exam_get_ready": "Foto in {seconds}",
    "exam_capture": "Bitte stillhalten – Foto",
    "exam_done": "Fertig – vielen Dank!",
    "snapshot_taken": "Ein Foto wurde aufgenommen.",
    "wrapped_up_title": "Vielen Dank!",
    "wrapped_up_text": "Ihr Besuch ist abgeschlossen. Ihre Messwerte wurden an Ihre Praxis übermittelt.",
    "wrapped_up_counts": "Gespeicherte Messwerte: {observations}. Gespeicherte Fotos: {media}.",
    "goodbye": "Bitte denken Sie an Ihre Sachen. Auf Wiedersehen!",
    "cleaning_title": "Der Raum wird gereinigt",
    "cleaning_text": "Wieder frei um {time} Uhr.",
    "error_title": "Etwas ist schiefgelaufen",
    "error_text": "Das Personal wurde informiert. Bitte warten Sie einen Moment.",
    "connection_lost": "Verbindung zum Raum unterbrochen – wird wiederhergestellt …",
    "operator_title": "Für das Personal: nicht übermittelte Datensätze",
    "record_rejected": "Ausgang, Zeile {row}: vom FHIR-Server der Klinik abgelehnt (HTTP {status}).",
    "record_rejected_reason": "Begründung des Servers: {reason}",
    "record_rejected_fix": (
        "Der Datensatz bleibt gespeichert. Ursache beheben, dann: telemedroom outbox requeue {row}"
    ),
}


def _with_protocol(texts: dict[str, str], language: Language) -> dict[str, str]:
    """``texts`` plus each facial protocol step's title and instruction (``exam_<code>``)."""
    steps: dict[str, str] = {}
    for step in PROTOCOL:
        steps[f"exam_{step.code}_title"] = step.title[language]
        steps[f"exam_{step.code}"] = step.instruction[language]
    return {**texts, **steps}


TEXTS: Final[dict[Language, dict[str, str]]] = {
    "de": _with_protocol(_DE, "de"),
    "en": _with_protocol(_EN, "en"),
}
"""Language -> key -> text; both languages have exactly the same keys."""
