"""The hub as an OpenID Connect relying party: authorization code flow with PKCE (RFC 7636).

The provider's endpoints and keys come from its discovery document (OpenID Connect
Discovery 1.0 §4); the ID token is checked as OpenID Connect Core 1.0 §3.1.3.7 asks:
signature against the provider's JWKS, ``iss``, ``aud`` (and ``azp``), ``exp``, ``iat``
and the ``nonce`` of this login attempt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from telemedroom.errors import LoginRefused
from telemedroom.hub._config import OidcSettings

__all__ = ["OidcClient", "OidcLogin", "pkce_pair"]

# RS256 is the one every provider must offer (OpenID Connect Core §15.1); the others are
# what hospital IdPs commonly sign with. "none" and HMAC algorithms are never accepted.
_ALGORITHMS: Final = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]
_LEEWAY: Final = 60


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` with the S256 method (RFC 7636 §4.1-4.2).

    Examples:
        >>> verifier, challenge = pkce_pair()
        >>> len(verifier) >= 43, "=" in challenge
        (True, False)
    """
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass(frozen=True)
class OidcLogin:
    """Who logged in: the verified ID token's subject, name and roles."""

    subject: str
    name: str
    roles: frozenset[str]
    claims: dict[str, Any]


class OidcClient:
    """Talks to one provider: discovery, the authorization URL, the code exchange, the ID token.

    Examples:
        >>> settings = OidcSettings(issuer="https://idp.example.org", client_id="hub")
        >>> OidcClient(settings, httpx.AsyncClient()).issuer
        'https://idp.example.org'
    """

    def __init__(self, settings: OidcSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.issuer = settings.issuer.rstrip("/")
        self._http = http
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    @property
    def ready(self) -> bool:
        """Whether the discovery document was read."""
        return self._metadata is not None

    async def discover(self) -> dict[str, Any]:
        """Read (once) the provider's discovery document.

        Raises:
            LoginRefused: ``idp_unreachable``: the document cannot be read or names
                another issuer.
        """
        if self._metadata is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            metadata = await self._get_json(url)
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
                raise LoginRefused("idp_unreachable", f"{url} names issuer {metadata.get('issuer')!r}")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(metadata.get(key), str):
                    raise LoginRefused("idp_unreachable", f"{url} has no {key}")
            self._metadata = metadata
        return self._metadata

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, timeout=10)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            raise LoginRefused("idp_unreachable", f"{url}: {exc}") from exc
        if not isinstance(data, dict):
            raise LoginRefused("idp_unreachable", f"{url} is not a JSON object")
        return data

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, challenge: str) -> str:
        """Where to send the browser to log in."""
        metadata = await self.discover()
        scopes = ["openid", *(scope for scope in self.settings.scopes if scope != "openid")]
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{metadata['authorization_endpoint']}?{query}"

    async def end_session_url(self) -> str | None:
        """The provider's RP-initiated logout endpoint, if it has one."""
        metadata = await self.discover()
        value = metadata.get("end_session_endpoint")
        return value if isinstance(value, str) else None

    async def login(self, *, code: str, verifier: str, nonce: str, redirect_uri: str) -> OidcLogin:
        """Exchange ``code`` (with the PKCE verifier) and verify the ID token.

        Raises:
            LoginRefused: ``code_refused`` (the provider refused the code: used, expired,
                or the verifier does not match), ``id_token`` (the token does not verify),
                ``idp_unreachable``.
        """
        metadata = await self.discover()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": self.settings.client_id,
        }
        auth: httpx.Auth | None = None
        if self.settings.client_secret is not None:
            auth = httpx.BasicAuth(self.settings.client_id, self.settings.client_secret.get_secret_value())
        try:
            if auth is None:
                response = await self._http.post(metadata["token_endpoint"], data=form, timeout=10)
            else:
                response = await self._http.post(metadata["token_endpoint"], data=form, auth=auth, timeout=10)
        except httpx.HTTPError as exc:
            raise LoginRefused("idp_unreachable", f"token endpoint: {exc}") from exc
        if response.status_code != 200:
            raise LoginRefused(
                "code_refused", f"the provider answered {response.status_code}: {response.text[:200]}"
            )
        try:
            id_token = response.json()["id_token"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise LoginRefused("code_refused", "the token response holds no id_token") from exc
        claims = await self.verify_id_token(str(id_token), nonce=nonce)
        return OidcLogin(
            subject=str(claims["sub"]),
            name=str(claims.get("name") or claims.get("preferred_username") or claims["sub"]),
            roles=roles_from(claims.get(self.settings.roles_claim)),
            claims=claims,
        )

    async def verify_id_token(
        self, id_token: str, *, nonce: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """The claims of a verified ID token (OpenID Connect Core §3.1.3.7).

        Raises:
            LoginRefused: ``id_token``, naming the check that failed.
        """
        keys = await self._key_set(refresh=False)
        try:
            token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            # the provider may have rotated its keys: read the JWKS again, once
            keys = await self._key_set(refresh=True)
            try:
                token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
            except (JoseError, ValueError) as again:
                raise LoginRefused("id_token", f"the signature does not verify ({again})") from exc
        claims = dict(token.claims)
        moment = int((now or datetime.now(UTC)).timestamp())
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        checks = [
            (str(claims.get("iss", "")).rstrip("/") == self.issuer, f"iss is {claims.get('iss')!r}"),
            (self.settings.client_id in audiences, f"aud {audience!r} does not name this client"),
            (len(audiences) == 1 or claims.get("azp") == self.settings.client_id, "azp is not this client"),
            (isinstance(claims.get("exp"), int) and claims["exp"] + _LEEWAY > moment, "expired"),
            (
                isinstance(claims.get("iat"), int) and claims["iat"] - _LEEWAY <= moment,
                "issued in the future",
            ),
            (secrets.compare_digest(str(claims.get("nonce", "")), nonce), "nonce does not match this login"),
            (isinstance(claims.get("sub"), str) and bool(claims["sub"]), "no sub"),
        ]
        for holds, why in checks:
            if not holds:
                raise LoginRefused("id_token", why)
        return claims

    async def _key_set(self, *, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            metadata = await self.discover()
            document = await self._get_json(metadata["jwks_uri"])
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise LoginRefused("idp_unreachable", "the provider's JWKS does not parse") from exc
        return self._keys


def roles_from(value: object) -> frozenset[str]:
    """The staff roles in a roles claim: a list, or a space- or comma-separated string.

    Examples:
        >>> sorted(roles_from(["physician", "nurse"])), sorted(roles_from("operator, physician"))
        (['physician'], ['operator', 'physician'])
    """
    if isinstance(value, str):
        words = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        words = [str(item) for item in value]
    else:
        words = []
    return frozenset(words) & {"physician", "operator"}
