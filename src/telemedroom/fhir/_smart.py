"""SMART Backend Services: client credentials with a signed JWT client assertion.

HL7 SMART App Launch 2.x, "Backend Services": the client signs a short-lived JWT
(RS384 or ES384) with its private key, posts it to the token endpoint found in
``[base]/.well-known/smart-configuration`` and gets an access token, which is cached
and renewed shortly before it expires.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Sequence

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from telemedroom.errors import FhirAuthError, FhirConnectionError
from telemedroom.fhir.client import FhirAuth

__all__ = ["SmartBackendAuth"]

_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ES384_SIZE = 48  # P-384 coordinates: JWS (RFC 7518 §3.4) wants r and s as 48 bytes each


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SmartBackendAuth(FhirAuth):
    """Access tokens for a backend service (no user) by SMART Backend Services.

    Args:
        client_id: The client id the authorization server registered for the room.
        private_key: The room's RSA (RS384) or P-384 EC (ES384) private key; the server
            knows the public half (usually from the room's JWKS URL).
        key_id: The ``kid`` of that key in the JWKS.
        scope: The scopes to ask for, e.g. ``"system/Observation.c system/Device.c"``.
        token_endpoint: The token URL; by default discovered from
            ``[base]/.well-known/smart-configuration``.
        refresh_margin: Renew the token this many seconds before it expires.

    Examples:
        >>> from cryptography.hazmat.primitives.asymmetric import ec
        >>> auth = SmartBackendAuth("room-1", ec.generate_private_key(ec.SECP384R1()), key_id="k1",
        ...                         scope="system/Observation.c")
        >>> auth.algorithm
        'ES384'
    """

    def __init__(
        self,
        client_id: str,
        private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
        *,
        key_id: str,
        scope: str | Sequence[str] = "system/*.cruds",
        token_endpoint: str | None = None,
        refresh_margin: float = 30.0,
    ) -> None:
        if isinstance(private_key, rsa.RSAPrivateKey):
            self.algorithm = "RS384"
        elif isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
            private_key.curve, ec.SECP384R1
        ):
            self.algorithm = "ES384"
        else:
            raise FhirAuthError(token_endpoint or "(not discovered yet)", "the key must be RSA or EC P-384")
        self.client_id = client_id
        self.key_id = key_id
        self.scope = scope if isinstance(scope, str) else " ".join(scope)
        self.token_endpoint = token_endpoint
        self.refresh_margin = refresh_margin
        self._key = private_key
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def assertion(self, audience: str, *, now: float | None = None) -> str:
        """A signed client-assertion JWT for ``audience`` (the token endpoint), valid 5 minutes.

        Examples:
            >>> from cryptography.hazmat.primitives.asymmetric import rsa
            >>> key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            >>> jwt = SmartBackendAuth("room-1", key, key_id="k1").assertion("https://auth.example/token")
            >>> len(jwt.split("."))
            3
        """
        issued = time.time() if now is None else now
        header = {"alg": self.algorithm, "typ": "JWT", "kid": self.key_id}
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "exp": int(issued) + 300,
            "jti": str(uuid.uuid4()),
        }
        signing_input = (
            f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}."
            f"{_b64url(json.dumps(claims, separators=(',', ':')).encode())}"
        ).encode()
        if isinstance(self._key, rsa.RSAPrivateKey):
            signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA384())
        else:
            r, s = decode_dss_signature(self._key.sign(signing_input, ec.ECDSA(hashes.SHA384())))
            signature = r.to_bytes(_ES384_SIZE, "big") + s.to_bytes(_ES384_SIZE, "big")
        return f"{signing_input.decode()}.{_b64url(signature)}"

    def invalidate(self) -> None:
        """Drop the cached token (the FHIR server refused it)."""
        self._token = None
        self._expires = 0.0

    async def authorization(self, http: httpx.AsyncClient | None, base_url: str) -> str | None:
        """``Bearer <token>``, fetching or renewing the token when needed.

        Raises:
            FhirConnectionError: The authorization server cannot be reached (worth another
                try later: the outbox backs off and keeps the readings).
            FhirAuthError: It answered, but gave no token (wrong key, unknown client...).
        """
        async with self._lock:
            if self._token is None or time.time() >= self._expires - self.refresh_margin:
                if http is None:
                    raise FhirAuthError(
                        self.token_endpoint or base_url, "no HTTP client to fetch a token with"
                    )
                await self._fetch(http, base_url)
            return f"Bearer {self._token}"

    async def _discover(self, http: httpx.AsyncClient, base_url: str) -> str:
        url = f"{base_url}/.well-known/smart-configuration"
        try:
            response = await http.get(url, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise FhirConnectionError(url, f"{type(exc).__name__}: {exc}") from exc
        try:
            endpoint = response.json().get("token_endpoint") if response.is_success else None
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise FhirAuthError(url, f"SMART discovery failed: {exc}") from exc
        if not isinstance(endpoint, str):
            raise FhirAuthError(
                url, f"no token_endpoint in the SMART configuration (HTTP {response.status_code})"
            )
        return endpoint

    async def _fetch(self, http: httpx.AsyncClient, base_url: str) -> None:
        if self.token_endpoint is None:
            self.token_endpoint = await self._discover(http, base_url)
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": _ASSERTION_TYPE,
            "client_assertion": self.assertion(self.token_endpoint),
        }
        try:
            response = await http.post(self.token_endpoint, data=form, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise FhirConnectionError(self.token_endpoint, f"{type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise FhirAuthError(self.token_endpoint, f"token request failed: {exc}") from exc
        if not response.is_success or not isinstance(body, dict) or "access_token" not in body:
            error = body.get("error", "no access_token") if isinstance(body, dict) else "no access_token"
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            raise FhirAuthError(
                self.token_endpoint,
                f"{error} (HTTP {response.status_code}){': ' + description if description else ''}",
            )
        self._token = str(body["access_token"])
        self._expires = time.time() + float(body.get("expires_in", 300))
