"""The front door's token check against a local issuer's published keys (real HTTP).

A token verified once is remembered until it expires, so the burst of activities Teams sends
with one token pays for one signature check; these tests pin what must still be refused."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest

from bot.chat.teams import inbound
from bot.chat.teams.inbound import CLOCK_SKEW, InvalidToken, TokenCheck
from tests.support.teams_requests import APP_ID
from tests.support.teams_stub import TeamsStub


@pytest.fixture(scope="module")
def stub() -> Iterator[TeamsStub]:
    with TeamsStub(client_id=APP_ID) as stub:
        yield stub


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature was checked (PyJWT runs as usual)."""
    seen: list[str] = []
    real = jwt.decode

    def counted(raw: str, *args: object, **kwargs: object) -> object:
        seen.append(raw)
        return real(raw, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(inbound.jwt, "decode", counted)
    return seen


def test_one_token_sent_with_many_activities_is_checked_once(stub, decodes):
    check = TokenCheck(client_id=APP_ID, openid_metadata_url=stub.openid_metadata_url)
    token = stub.token()
    first = check.verify(f"Bearer {token}", service_url=stub.url)
    for _ in range(20):
        assert check.verify(f"Bearer {token}", service_url=stub.url) == first
    assert decodes == [token]
    assert first["aud"] == APP_ID


def test_a_remembered_token_is_refused_once_it_expires(stub):
    clock = Clock()
    check = TokenCheck(client_id=APP_ID, openid_metadata_url=stub.openid_metadata_url,
                       clock=clock)
    token = stub.token(expires_in=60)
    check.verify(f"Bearer {token}", service_url=stub.url)
    clock.now += 60 + CLOCK_SKEW - 5
    check.verify(f"Bearer {token}", service_url=stub.url)
    clock.now += 10
    with pytest.raises(InvalidToken, match="expired"):
        check.verify(f"Bearer {token}", service_url=stub.url)


def test_a_remembered_token_is_still_tied_to_its_service_url(stub):
    check = TokenCheck(client_id=APP_ID, openid_metadata_url=stub.openid_metadata_url)
    token = stub.token()
    check.verify(f"Bearer {token}", service_url=stub.url)
    with pytest.raises(InvalidToken, match="serviceurl"):
        check.verify(f"Bearer {token}", service_url="https://evil.example.com/")


def test_a_token_like_a_remembered_one_is_checked_in_full(stub, decodes):
    check = TokenCheck(client_id=APP_ID, openid_metadata_url=stub.openid_metadata_url)
    token = stub.token()
    check.verify(f"Bearer {token}", service_url=stub.url)
    forged = stub.forged_token()  # the same claims, signed by a key nobody published
    header, payload, _ = token.split(".")
    spliced = ".".join([header, payload, forged.split(".")[2]])
    for bad in (forged, spliced, token + "A"):
        with pytest.raises(InvalidToken):
            check.verify(f"Bearer {bad}", service_url=stub.url)
    assert decodes == [token, forged, spliced, token + "A"]
