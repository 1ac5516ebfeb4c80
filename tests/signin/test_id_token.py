"""The id_token checks, one failure at a time, with real keys and signatures."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.settings import OIDCSettings
from server.signin import oidc

ISSUER = "https://id.example.test"
CONFIG = OIDCSettings(issuer=ISSUER, client_id="fieldbook")


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    return key


def cache_with(key: RSAKey, algorithms: list[str] | None = None) -> oidc.ProviderCache:
    return oidc.ProviderCache(
        metadata={"issuer": ISSUER, "id_token_signing_alg_values_supported": algorithms or ["RS512"]},
        keys=KeySet([RSAKey.import_key(key.as_dict(private=False))]),
        fetched_at=time.monotonic(),  # fresh: nothing is fetched over the network
    )


def id_token(key: RSAKey, alg: str = "RS512", **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "fieldbook",
        "sub": "u1",
        "iat": now,
        "exp": now + 300,
        "nonce": "n1",
        **overrides,
    }
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key, algorithms=[alg])


async def test_a_good_token_passes(signing_key) -> None:
    claims = await oidc.verify_id_token(CONFIG, cache_with(signing_key), id_token(signing_key), "n1")
    assert claims["sub"] == "u1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://evil.example.test"},
        {"aud": "someone-else"},
        {"exp": int(time.time()) - 3600},
        {"nonce": "replayed"},
        {"sub": None},
    ],
    ids=["wrong issuer", "wrong audience", "expired", "wrong nonce", "no subject"],
)
async def test_a_bad_claim_is_refused(signing_key, overrides) -> None:
    claims = {name: value for name, value in overrides.items() if value is not None}
    token = id_token(signing_key, **claims)
    if overrides.get("sub", "") is None:
        now = int(time.time())
        token = jwt.encode(
            {"alg": "RS512", "kid": "k1"},
            {"iss": ISSUER, "aud": "fieldbook", "iat": now, "exp": now + 300, "nonce": "n1"},
            signing_key,
            algorithms=["RS512"],
        )
    with pytest.raises(oidc.SignInFailed):
        await oidc.verify_id_token(CONFIG, cache_with(signing_key), token, "n1")


async def test_an_algorithm_the_issuer_does_not_use_is_refused(signing_key) -> None:
    token = id_token(signing_key, alg="RS256")
    with pytest.raises(oidc.SignInFailed):
        await oidc.verify_id_token(CONFIG, cache_with(signing_key, ["RS512"]), token, "n1")


async def test_a_token_signed_with_another_key_is_refused(signing_key) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    cache = cache_with(signing_key)
    # Fetching fresh keys (key rotation) is tried once and fails: the issuer is not reachable here.
    config = OIDCSettings(issuer="http://127.0.0.1:1", client_id="fieldbook")
    cache.metadata["issuer"] = config.issuer
    with pytest.raises(oidc.SignInFailed):
        await oidc.verify_id_token(config, cache, id_token(impostor, iss=config.issuer), "n1")


async def test_an_unreachable_issuer_is_a_clear_failure(settings) -> None:
    offline = replace(
        settings, demo=False, oidc=OIDCSettings(issuer="http://127.0.0.1:1", client_id="fieldbook")
    )
    async with AsyncTestClient(app=create_app(offline), base_url="http://127.0.0.1:8000") as browser:
        browser.follow_redirects = False
        response = await browser.get("/auth/oidc/start")
    assert response.status_code == 502
    assert "could not reach your company" in response.text
    assert "fieldbook_session" not in response.headers.get("set-cookie", "")
