"""schedule.toml -> resources and services: round trips and refusals (hypothesis)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemedroom.errors import RoomConfigError
from telemedroom.scheduling import Requirement, Service, load_schedule

ROOM = '[[resources]]\nid = "nord-1"\nkind = "room"\nname = "Room"\n'
SERVICE = '[[services]]\nid = "s"\nname = "S"\n'
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9\-.]{0,20}", fullmatch=True)
names = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
minutes = st.integers(min_value=1, max_value=600)
requirements = st.lists(
    st.builds(
        Requirement, kind=st.sampled_from(["room", "practitioner", "device"]), qualification=st.none() | ids
    ),
    min_size=1,
    max_size=3,
)


def toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string without \\u escapes is a TOML basic string


@given(
    service_id=ids,
    name=names,
    duration=minutes,
    before=st.integers(0, 60),
    after=st.integers(0, 60),
    requires=requirements,
)
def test_services_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    service_id: str,
    name: str,
    duration: int,
    before: int,
    after: int,
    requires: list[Requirement],
) -> None:
    def table(r: Requirement) -> str:
        qualification = f", qualification = {toml_string(r.qualification)}" if r.qualification else ""
        return f"{{ kind = {toml_string(r.kind)}{qualification} }}"

    tables = ", ".join(table(r) for r in requires)
    path = tmp_path_factory.mktemp("schedule") / "schedule.toml"
    path.write_text(
        ROOM + f"[[services]]\nid = {toml_string(service_id)}\nname = {toml_string(name)}\n"
        f"duration_minutes = {duration}\nbuffer_before_minutes = {before}\nbuffer_after_minutes = {after}\n"
        f"requires = [{tables}]\n",
        encoding="utf-8",
    )
    [service] = load_schedule(path).services.values()
    assert service == Service(
        id=service_id,
        name=name,
        duration=timedelta(minutes=duration),
        buffer_before=timedelta(minutes=before),
        buffer_after=timedelta(minutes=after),
        requires=tuple(requires),
    )


scalars = st.one_of(st.booleans(), names.map(toml_string), st.just("[1, 2]"), st.just("{ a = 1 }"))


@given(value=scalars)
def test_a_duration_that_is_not_minutes_names_its_key(
    tmp_path_factory: pytest.TempPathFactory, value: object
) -> None:
    literal = str(value).lower() if isinstance(value, bool) else str(value)
    path = tmp_path_factory.mktemp("schedule") / "schedule.toml"
    path.write_text(ROOM + SERVICE + f'duration_minutes = {literal}\nrequires = [{{ kind = "room" }}]\n')
    with pytest.raises(RoomConfigError) as caught:
        load_schedule(path)
    assert caught.value.key == "services[0].duration_minutes"
    assert caught.value.source == str(path)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("resources = 3\n", "resources"),
        (
            ROOM
            + '[[services]]\nid = "s"\nname = "S"\nduration_minutes = 0\nrequires = [{ kind = "room" }]\n',
            "services[0]",
        ),
        (ROOM + '[[services]]\nid = "s"\nname = "S"\nduration_minutes = 5\nrequires = []\n', "services[0]"),
        (ROOM.replace('kind = "room"', 'kind = "castle"') + "[[services]]\n", "resources[0]"),
        (ROOM + "rooms = 1\n", "resources[0]"),
        ('colour = "blue"\n', "colour"),
        (
            ROOM + SERVICE + 'duration_minutes = 5\nrequires = [{ kind = "room", colour = 1 }]\n',
            "services[0].requires[0]",
        ),
    ],
)
def test_refusals_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(text)
    with pytest.raises(RoomConfigError) as caught:
        load_schedule(path)
    assert caught.value.key == key


def test_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text("[[services]\n")
    with pytest.raises(RoomConfigError, match="not valid TOML"):
        load_schedule(path)
