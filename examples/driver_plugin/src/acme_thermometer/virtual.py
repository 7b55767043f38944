"""A virtual Acme T-100 on telemedroom's simulated radio (needs ``telemedroom[sim,ble]``)."""

from __future__ import annotations

from typing import ClassVar

from acme_thermometer import ACME_SERVICE, ACME_TEMPERATURE, encode_t100
from telemedroom import BodyTemperature, DeviceInfo, Measurement
from telemedroom.testing import VirtualDevice

__all__ = ["VirtualAcmeThermometer"]


class VirtualAcmeThermometer(VirtualDevice):
    """A T-100: the vendor service with its one notify characteristic."""

    service = ACME_SERVICE
    characteristics: ClassVar = {ACME_TEMPERATURE: "notify"}
    default_address = "C0:FF:EE:AC:0E:01"
    default_name = "ACME T-100"
    default_info = DeviceInfo(manufacturer="Acme Instruments", model="T-100")

    def encode(self, measurement: Measurement) -> list[tuple[int | str, bytes]]:
        assert isinstance(measurement, BodyTemperature)
        return [(ACME_TEMPERATURE, encode_t100(measurement, battery=self.battery_level))]
