"""The exception tree: one root, data on every error, ValueError where it helps."""

from __future__ import annotations

import pytest

from telemedroom import errors
from telemedroom.devices import gatt


def test_every_error_is_a_telemedroom_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.TelemedroomError)


def test_the_tree_in_the_module_docstring_names_every_error() -> None:
    assert errors.__doc__ is not None
    for name in errors.__all__:
        assert name in errors.__doc__


def test_codec_errors_are_value_errors() -> None:
    assert issubclass(errors.CodecError, ValueError)
    assert issubclass(errors.MeasurementEncodeError, errors.CodecError)


def test_decode_error_carries_the_input() -> None:
    with pytest.raises(errors.MeasurementDecodeError) as info:
        gatt.decode(0x2A35, bytes.fromhex("1e 7800"))
    err = info.value
    assert (err.uuid, err.data_hex, err.offset) == ("2a35", "1e7800", 3)
    assert "truncated" in err.reason
    assert "2a35" in str(err)
    assert "1e7800" in str(err)


def test_device_errors_keep_address_and_reason() -> None:
    cause = OSError("adapter gone")
    try:
        raise errors.DeviceConnectionError("C0:FF:EE:00:00:01", "link lost") from cause
    except errors.DeviceError as exc:
        assert isinstance(exc, errors.DeviceConnectionError)
        assert exc.address == "C0:FF:EE:00:00:01"
        assert exc.__cause__ is cause
    assert errors.DeviceNotFound("AA:BB").address == "AA:BB"
    assert errors.UnsupportedCharacteristic("2a00").uuid == "2a00"


def test_media_device_error_keeps_device_kind_reason_and_cause() -> None:
    cause = FileNotFoundError(2, "No such file or directory")
    try:
        raise errors.MediaDeviceError("/dev/video0", "video", "cannot open") from cause
    except errors.DeviceError as exc:
        assert isinstance(exc, errors.MediaDeviceError)
        assert (exc.device, exc.kind, exc.reason) == ("/dev/video0", "video", "cannot open")
        assert exc.__cause__ is cause
        assert str(exc) == "video device /dev/video0: cannot open"


def test_missing_extra_is_an_import_error_naming_the_fix() -> None:
    err = errors.MissingExtraError("video", "telemedroom.devices.media")
    assert isinstance(err, ImportError)
    assert (err.extra, err.feature) == ("video", "telemedroom.devices.media")
    assert "pip install 'telemedroom[video]'" in str(err)


def test_the_tree_in_the_module_docstring_matches_the_classes() -> None:
    assert errors.__doc__ is not None
    drawing = errors.__doc__.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    parents: list[str] = []
    for line in drawing:
        name = line.lstrip("│├└─ ").split()[0]
        depth = (len(line) - len(line.lstrip("│├└─ "))) // 4
        parents = [*parents[:depth], name]
        if depth:
            assert getattr(errors, parents[-2]) in getattr(errors, name).__bases__, (name, parents[-2])
    assert len(drawing) == len(errors.__all__)


def test_monitoring_errors_carry_their_data() -> None:
    plan_error = errors.CarePlanError("rules.1(spo2).below", "must be a number", source="plan.toml")
    assert (plan_error.key, plan_error.reason, plan_error.source) == (
        "rules.1(spo2).below",
        "must be a number",
        "plan.toml",
    )
    assert isinstance(plan_error, ValueError)
    unknown = errors.UnknownAlert("a-1")
    assert isinstance(unknown, KeyError)
    assert str(unknown) == "no alert with id a-1"
    delivery = errors.WebhookDeliveryError("https://h.example/x", 5, None, "ConnectError: refused")
    assert (delivery.attempts, delivery.status) == (5, None)
    assert "HTTP" not in str(delivery)
    assert errors.WebhookSignatureError("too old").reason == "too old"
    for cls in (
        errors.CarePlanError,
        errors.UnknownAlert,
        errors.WebhookDeliveryError,
        errors.WebhookSignatureError,
    ):
        assert issubclass(cls, errors.MonitoringError)


def test_grading_error_is_an_exam_error_and_a_value_error() -> None:
    err = errors.GradingError("sunnybrook.resting.eye", 3, "must be one of 0, 1")
    assert (err.item, err.value, err.reason) == ("sunnybrook.resting.eye", 3, "must be one of 0, 1")
    assert isinstance(err, errors.ExamError)
    assert isinstance(err, ValueError)


def test_session_errors_carry_their_reason() -> None:
    from telemedroom.errors import TokenRefusal

    err = errors.TokenError(TokenRefusal.WRONG_ROOM, "issued for room 'r2'", token_id="t-9")
    assert isinstance(err, errors.SessionError)
    assert (err.reason, err.token_id) == (TokenRefusal.WRONG_ROOM, "t-9")
    assert "wrong_room" in str(err)
    assert errors.SignalingError("forbidden", "x").code == "forbidden"
    assert errors.PeerError("ICE failed").reason == "ICE failed"
    assert errors.AuditIntegrityError(4, "altered").index == 4
    for cls in (errors.TokenError, errors.SignalingError, errors.PeerError, errors.AuditIntegrityError):
        assert issubclass(cls, errors.SessionError)


@pytest.mark.parametrize(
    ("cls", "product", "parent"),
    [
        (errors.RoomConfigError, "room", errors.RoomError),
        (errors.BookingConfigError, "booking", errors.BookingError),
        (errors.ApartmentConfigError, "apartment", errors.ApartmentError),
        (errors.HubConfigError, "hub", errors.HubError),
    ],
)
def test_each_configuration_error_is_a_config_error_and_its_products_error(
    cls: type[errors.ConfigError], product: str, parent: type[errors.TelemedroomError]
) -> None:
    err = cls("fhir.base_url", f"{product}.toml", "missing")
    assert isinstance(err, errors.ConfigError)
    assert isinstance(err, parent)
    assert (err.key, err.source, err.reason) == ("fhir.base_url", f"{product}.toml", "missing")
    assert str(err) == f"{product} configuration {product}.toml: fhir.base_url: missing"
    assert str(cls(None, "/etc/x.toml", "cannot read")) == f"{product} configuration /etc/x.toml: cannot read"
