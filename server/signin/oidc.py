"""OpenID Connect sign-in: the authorization code flow with PKCE (S256), state and nonce.

Authlib builds the authorization URL and redeems the code; the id_token is checked with joserfc
against the issuer's published keys (JWKS), with the algorithms the issuer says it signs with,
its issuer, audience, expiry and our nonce.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx2
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from server.errors import CommandError, Message
from server.i18n import N_

if TYPE_CHECKING:
    from server.settings import OIDCSettings

FLOW_KEY = "oidc_flow"
FLOW_MAX_AGE = 600  # seconds a person may take at the identity provider
METADATA_MAX_AGE = 3600
HTTP_TIMEOUT = 10
CLOCK_LEEWAY = 60


class SignInFailed(CommandError):
    """The sign-in could not be completed; nothing was signed in."""

    code = "sign_in_failed"
    status_code = 400

    def __init__(self, message: Message, *, reason: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.reason = reason  # for the log, never shown
        self.status_code = status_code


UNREACHABLE = Message(N_("We could not reach your company's sign-in service. Please try again in a moment."))
EXPIRED = Message(N_("That sign-in link has expired or was already used. Please sign in again."))
INVALID = Message(
    N_("Your company's sign-in service sent an answer we could not verify. Please sign in again.")
)


@dataclass
class ProviderCache:
    """The issuer's metadata and keys, fetched when first needed and refreshed hourly."""

    metadata: dict[str, Any] = field(default_factory=dict)
    keys: KeySet | None = None
    fetched_at: float = 0.0


def _client(config: OIDCSettings, redirect_uri: str) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret or None,
        scope=config.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if config.client_secret else "none",
        timeout=HTTP_TIMEOUT,
    )


async def provider(
    config: OIDCSettings, cache: ProviderCache, *, refresh_keys: bool = False
) -> ProviderCache:
    """Discovery: /.well-known/openid-configuration and the JWKS it points at."""
    stale = time.monotonic() - cache.fetched_at > METADATA_MAX_AGE
    if cache.metadata and cache.keys and not stale and not refresh_keys:
        return cache
    async with httpx2.AsyncClient(timeout=HTTP_TIMEOUT) as client:
        try:
            response = await client.get(f"{config.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            metadata = response.json()
            keys = await client.get(metadata["jwks_uri"])
            keys.raise_for_status()
            cache.keys = KeySet.import_key_set(keys.json())
        except (httpx2.HTTPError, OSError, ValueError, KeyError, JoseError) as error:
            raise SignInFailed(UNREACHABLE, reason=f"discovery failed: {error!r}", status_code=502) from error
    if metadata.get("issuer", "").rstrip("/") != config.issuer:
        raise SignInFailed(
            INVALID, reason=f"metadata names issuer {metadata.get('issuer')!r}", status_code=502
        )
    cache.metadata, cache.fetched_at = metadata, time.monotonic()
    return cache


async def authorization_url(
    config: OIDCSettings, cache: ProviderCache, redirect_uri: str
) -> tuple[str, dict[str, Any]]:
    """Where to send the browser, and the flow to keep in the session until it comes back."""
    await provider(config, cache)
    flow = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "verifier": secrets.token_urlsafe(64),
        "started": time.time(),
    }
    async with _client(config, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            cache.metadata["authorization_endpoint"],
            state=flow["state"],
            nonce=flow["nonce"],
            code_verifier=flow["verifier"],
        )
    return url, flow


async def complete(
    config: OIDCSettings,
    cache: ProviderCache,
    redirect_uri: str,
    flow: dict[str, Any] | None,
    params: dict[str, str],
) -> dict[str, Any]:
    """Check the callback against the flow we started, redeem the code, verify the id_token.

    Returns the id_token's claims (plus the raw token under `_id_token`, for sign-out).
    """
    if not flow or time.time() - flow.get("started", 0) > FLOW_MAX_AGE:
        raise SignInFailed(EXPIRED, reason="no sign-in in progress for this session, or it is too old")
    if not hmac.compare_digest(str(params.get("state", "")), str(flow["state"])):
        raise SignInFailed(EXPIRED, reason="state does not match")
    if params.get("error"):
        raise SignInFailed(
            Message(N_("Your company's sign-in service did not sign you in.")),
            reason=f"provider error {params.get('error')!r}: {params.get('error_description', '')!r}",
            status_code=403,
        )
    if not params.get("code"):
        raise SignInFailed(INVALID, reason="callback without a code")
    await provider(config, cache)
    async with _client(config, redirect_uri) as client:
        try:
            token = await client.fetch_token(
                cache.metadata["token_endpoint"], code=params["code"], code_verifier=flow["verifier"]
            )
        except OAuthError as error:  # e.g. invalid_grant: a replayed or expired code
            raise SignInFailed(EXPIRED, reason=f"token endpoint refused: {error!r}") from error
        except (httpx2.HTTPError, OSError, ValueError) as error:
            raise SignInFailed(
                UNREACHABLE, reason=f"token endpoint failed: {error!r}", status_code=502
            ) from error
    id_token = token.get("id_token")
    if not id_token:
        raise SignInFailed(INVALID, reason="token response without an id_token")
    claims = await verify_id_token(config, cache, id_token, flow["nonce"])
    return {**claims, "_id_token": id_token}


async def verify_id_token(
    config: OIDCSettings, cache: ProviderCache, id_token: str, nonce: str
) -> dict[str, Any]:
    algorithms = cache.metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [alg for alg in algorithms if alg != "none"]
    try:
        try:
            decoded = jwt.decode(id_token, cache.keys, algorithms=algorithms)
        except JoseError:
            # The issuer may have rotated its keys since we fetched them: fetch once more.
            await provider(config, cache, refresh_keys=True)
            decoded = jwt.decode(id_token, cache.keys, algorithms=algorithms)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": config.issuer},
            aud={"essential": True, "value": config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as error:
        raise SignInFailed(INVALID, reason=f"id_token rejected: {error!r}") from error
    return dict(decoded.claims)


def end_session_url(
    cache: ProviderCache, config: OIDCSettings, id_token: str | None, after: str
) -> str | None:
    """The issuer's sign-out address (RP-initiated logout), if it has one."""
    endpoint = cache.metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    params = {"client_id": config.client_id, "post_logout_redirect_uri": after}
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"
