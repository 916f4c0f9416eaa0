"""Passwords are argon2id at RFC 9106's second recommended profile by default (3 passes, 64 MiB); the cost is a
setting, each hash records its own, so a hash made at one cost verifies after the setting changes."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters

from jingyun.errors import JingyunError
from jingyun.security import auth
from jingyun.security.config import ServiceConfig

PASSWORD = "correct horse battery"


def test_the_default_cost_is_the_recommended_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JINGYUN_PASSWORD_HASH_MEMORY_KIB", raising=False)
    monkeypatch.delenv("JINGYUN_PASSWORD_HASH_TIME_COST", raising=False)
    cfg = ServiceConfig()
    assert (cfg.password_hash_time_cost, cfg.password_hash_memory_kib) == (3, 65_536)
    made = extract_parameters(auth.hash_password(PASSWORD))
    assert (made.type.name, made.time_cost, made.memory_cost) == ("ID", 3, 65_536)


def test_a_hash_keeps_its_cost_and_verifies_after_the_setting_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINGYUN_PASSWORD_HASH_MEMORY_KIB", "2048")
    monkeypatch.setenv("JINGYUN_PASSWORD_HASH_TIME_COST", "2")
    cheap = auth.hash_password(PASSWORD)
    assert (extract_parameters(cheap).time_cost, extract_parameters(cheap).memory_cost) == (2, 2048)
    monkeypatch.setenv("JINGYUN_PASSWORD_HASH_MEMORY_KIB", "4096")
    monkeypatch.setenv("JINGYUN_PASSWORD_HASH_TIME_COST", "1")
    assert auth._verify(cheap, PASSWORD) and not auth._verify(cheap, PASSWORD + "!")
    assert extract_parameters(auth.hash_password(PASSWORD)).memory_cost == 4096


def test_a_cost_below_the_floor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINGYUN_PASSWORD_HASH_MEMORY_KIB", "64")
    with pytest.raises(JingyunError) as err:
        auth.hash_password(PASSWORD)
    assert (err.value.code, err.value.field) == ("bad_setting", "JINGYUN_PASSWORD_HASH_MEMORY_KIB")
