"""The contract between Python and the Lua scripts (contract.py): every name a script uses is
declared in its generated header, no state is spelled out in Lua, and the hash fields the
scripts read are the ones the mirror writes."""

import re

import pytest

from apps.waitingroom import queue, services
from apps.waitingroom.contract import LUA_ENUMS, RoomKeys
from tests.factories import make_event

SCRIPT_NAMES = ("admit", "join", "status", "open", "leave", "gate")  # the token bucket: apps.core.ratelimit
_COMMENT = re.compile(r"--[^\n]*")
_STRING = re.compile(r"'([^']*)'")


def _header_and_body(name: str) -> tuple[set[str], str]:
    header, _, body = getattr(queue.SCRIPTS, name).script.partition("\n\n")
    declared = set(re.findall(r"^local (\w+) = ", header, re.MULTILINE))
    return declared, _COMMENT.sub("", body)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_contract_name_a_script_uses_is_declared(name):
    """A typo (MODE_OF, lien_key) would be a nil global, an error only on the path that reads it."""
    declared, body = _header_and_body(name)
    code = _STRING.sub("''", body)
    used = set(re.findall(r"\b(?:[A-Z][A-Z0-9_]+|\w+_key)\b", code)) - {"KEYS", "ARGV"}
    assert used <= declared, f"{name}.lua uses undeclared {used - declared}"


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_scripts_spell_no_state_and_name_their_keys(name):
    _, body = _header_and_body(name)
    states = {member.value for enum in LUA_ENUMS.values() for member in enum}
    assert not set(_STRING.findall(body)) & states, "a state in Lua is a header local (MODE_OFF, WHERE_LINE, ...)"
    assert "KEYS[" not in body, "a script names its keys (line_key, ...), from RoomKeys' orders"


def test_fields_the_scripts_read_are_fields_of_their_hash():
    for name in RoomKeys.LUA_FIELDS:
        known = RoomKeys.CFG_FIELDS if name.endswith("_CFG") else RoomKeys.STATE_FIELDS
        assert set(getattr(RoomKeys, name)) <= set(known), name


@pytest.mark.django_db
def test_mirror_writes_the_cfg_fields():
    event = make_event()
    services.mirror_config(config=services.ensure_config(event=event))
    cfg = queue.client().hgetall(RoomKeys.of(event.id).cfg)
    assert sorted(k.decode() for k in cfg) == sorted(RoomKeys.CFG_FIELDS)


def test_keys_of_one_event_share_its_hash_tag():
    keys = RoomKeys.of(42)
    joining = keys.status_joining_keys(ip="1.2.3.4", visitor="v")
    assert len(joining) == len(RoomKeys.STATUS_JOINING)
    assert all(k.startswith("wr:{42}:") for k in joining)
    assert keys.queue_keys[RoomKeys.QUEUE.index("line")] == "wr:{42}:line"
