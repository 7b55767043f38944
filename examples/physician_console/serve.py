"""The signaling server and physician console over TLS, with TURN: set up, serve, check.

    python serve.py setup --dir DIR [--host NAME ...] [--turn-ip IP ...]
        a throwaway clinic CA and a server certificate signed by it, the join-token key
        pair, a TURN shared secret and turnserver.conf rendered from the template here;
    python serve.py serve --dir DIR [--port 8443] [--turn-url URL ...] [--origin URL ...]
        serves telemedroom.session.signaling.create_app with uvicorn over https/wss;
    python serve.py check --dir DIR [--turn-url URL --relay-only]
        serves it on a free loopback port and runs a (virtual) room and a scripted
        physician against it through wss, trusting only the clinic CA; prints what it saw.

Without subcommand it runs ``setup`` and ``check`` in a temporary directory. See the
README next to this file for a real deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import secrets
import signal
import ssl
import string
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from telemedroom import HeartRate
from telemedroom.session import TokenIssuer, TokenVerifier
from telemedroom.session.peer import PhysicianPeer, RoomPeer
from telemedroom.session.signaling import LocalServer, SignalingConfig, TurnConfig, create_app

HERE = Path(__file__).parent
KEY_ID = "clinic-1"  # the join-token key's id; the booking service signs with this key


@dataclass(frozen=True)
class Files:
    """What ``setup`` writes into the deployment directory."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "clinic-ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "clinic-ca-key.pem"

    @property
    def cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def key(self) -> Path:
        return self.folder / "server-key.pem"

    @property
    def token_key(self) -> Path:
        return self.folder / "join-token-key.pem"

    @property
    def token_public(self) -> Path:
        return self.folder / "join-token-public.pem"

    @property
    def turn_secret(self) -> Path:
        return self.folder / "turn-secret"

    @property
    def turn_config(self) -> Path:
        return self.folder / "turnserver.conf"


# -- setup -----------------------------------------------------------------------------------------


def _pem_key(key: ec.EllipticCurvePrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_secret(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


# RFC 5280 §4.2.1.3: the CA key signs certificates and revocation lists, nothing else.
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def make_clinic_ca(files: Files, hosts: Sequence[str], *, days: int = 30) -> None:
    """A private CA (P-256) and a server certificate for ``hosts`` signed by it (RFC 5280)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Throwaway clinic CA (telemedroom example)")]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        # RFC 5280 §4.2.1.9: a CA that may sign certificates, but no further CA below it.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_secret(files.ca_key, _pem_key(ca_key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_secret(files.key, _pem_key(key))


def make_join_token_keys(files: Files) -> None:
    """The Ed25519 pair: the private key for the booking service, the public one for signaling."""
    key = Ed25519PrivateKey.generate()
    _write_secret(files.token_key, _pem_key(key))
    files.token_public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def render_coturn_config(
    files: Files,
    *,
    realm: str,
    listening_ip: str,
    external_ip: str,
    port: int = 3478,
    tls_port: int = 5349,
    min_port: int = 49152,
    max_port: int = 65535,
    state_dir: Path | None = None,
    log_file: str = "/var/log/turnserver.log",
) -> str:
    """``turnserver.conf`` from the template next to this script, with the shared secret."""
    template = string.Template((HERE / "turnserver.conf.template").read_text())
    return template.substitute(
        secret=files.turn_secret.read_text().strip(),
        realm=realm,
        listening_ip=listening_ip,
        port=port,
        tls_port=tls_port,
        cert=files.cert.resolve(),
        pkey=files.key.resolve(),
        external_ip=external_ip,
        relay_ip=listening_ip,
        min_port=min_port,
        max_port=max_port,
        state_dir=(state_dir or files.folder).resolve(),
        log_file=log_file,
    )


def setup(args: argparse.Namespace) -> None:
    files = Files(args.dir)
    files.folder.mkdir(parents=True, exist_ok=True)
    make_clinic_ca(files, args.host)
    make_join_token_keys(files)
    _write_secret(files.turn_secret, secrets.token_hex(32).encode())
    files.turn_config.write_text(
        render_coturn_config(
            files,
            realm=args.realm,
            listening_ip=args.turn_ip,
            external_ip=args.external_ip or args.turn_ip,
            port=args.turn_port,
            tls_port=args.turn_tls_port,
            min_port=args.min_port,
            max_port=args.max_port,
            log_file=args.turn_log,
        )
    )
    files.turn_config.chmod(0o600)  # it holds the shared secret
    print(f"clinic CA: {files.ca.name}; server certificate for {', '.join(args.host)}: {files.cert.name}")
    print(f"join-token keys: {files.token_key.name} (booking service), {files.token_public.name} (signaling)")
    print(f"TURN: shared secret in {files.turn_secret.name}, coturn configuration {files.turn_config.name}")


# -- the app -----------------------------------------------------------------------------------------


def build_app(files: Files, *, turn_urls: Sequence[str], origins: Sequence[str], ttl: int = 3600) -> object:
    """The signaling app: trusts the join-token public key, hands out TURN credentials."""
    public = serialization.load_pem_public_key(files.token_public.read_bytes())
    if not isinstance(public, Ed25519PublicKey):
        raise SystemExit(f"{files.token_public}: not an Ed25519 public key")
    turn = TurnConfig(urls=list(turn_urls), secret=files.turn_secret.read_text().strip(), ttl=ttl)
    config = SignalingConfig(
        verifier=TokenVerifier({KEY_ID: public}),
        allowed_origins=tuple(origins),
        turn=turn if turn_urls else None,
    )
    return create_app(config)


async def serve(args: argparse.Namespace) -> None:
    files = Files(args.dir)
    app = build_app(files, turn_urls=args.turn_url, origins=args.origin)
    # Behind a reverse proxy that terminates TLS, serve plain HTTP on loopback only.
    tls = {} if args.behind_proxy else {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
    async with LocalServer(app, args.bind, args.port, **tls) as server:
        print(f"console: {server.http_url}/console/#token=<a physician's join token>")
        print(f"signaling: {server.ws_url}/ws/<room>/<appointment>; Ctrl-C stops")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


# -- check: a room and a physician through wss (and TURN) ------------------------------------------------


def _issuer(files: Files) -> TokenIssuer:
    key = serialization.load_pem_private_key(files.token_key.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return TokenIssuer(key, KEY_ID)


def _candidate_types(sdp: str) -> set[str]:
    # RFC 8839 §5.1: "a=candidate:... typ host|srflx|prflx|relay"
    return {line.split(" typ ")[1].split()[0] for line in sdp.splitlines() if " typ " in line}


async def check(args: argparse.Namespace) -> None:
    files = Files(args.dir)
    app = build_app(files, turn_urls=args.turn_url, origins=args.origin)
    trust = ssl.create_default_context(cafile=str(files.ca))  # the clinic CA, nothing else
    issuer = _issuer(files)
    now = datetime.now(UTC)

    def token(role: str, name: str) -> str:
        return issuer.issue(
            room="quarter-1", appointment="apt-42", role=role, subject=name.lower().replace(" ", "-"),
            name=name, not_before=now - timedelta(minutes=1), expires_at=now + timedelta(minutes=30),
        )  # fmt: skip

    async with LocalServer(app, ssl_certfile=str(files.cert), ssl_keyfile=str(files.key)) as server:
        async with httpx.AsyncClient(verify=trust) as http:
            page = await http.get(f"{server.http_url}/console/")
        csp = "frame-ancestors 'none'" in page.headers.get("content-security-policy", "")
        print(f"console over https: HTTP {page.status_code}, strict CSP: {csp}")
        try:
            async with httpx.AsyncClient() as http:  # the system's trust store
                await http.get(f"{server.http_url}/healthz")
        except httpx.ConnectError as exc:
            reason = "CERTIFICATE_VERIFY_FAILED" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else repr(exc)
            print(f"without the clinic CA: refused, {reason}")

        url = f"{server.ws_url}/ws/quarter-1/apt-42"
        try:
            async with connect(url, ssl=trust, origin="https://elsewhere.example"):  # type: ignore[arg-type]
                pass
        except InvalidStatus as exc:
            print(f"WebSocket from origin https://elsewhere.example: HTTP {exc.response.status_code}")

        relay = args.relay_only
        async with (
            PhysicianPeer(
                url, token("physician", "Dr Weber"), auto_admit=True, ssl=trust, relay_only=relay
            ) as doctor,
            RoomPeer(url, token("patient", "Room Quarter 1"), ssl=trust, relay_only=relay) as room,
        ):
            print(f"joined over {url.split(':')[0]}://, admitted: {await _admitted(room)}")
            for server_entry in room.welcome.ice_servers:
                expiry = int((server_entry.username or "0:").split(":")[0])
                left = expiry - int(datetime.now(UTC).timestamp())
                print(
                    f"ICE server from the welcome: {server_entry.urls[0]}, credential valid {left // 60} min"
                )
            await room.wait_connected(timeout=30)
            await room.send_measurement(HeartRate(bpm=64))
            async with asyncio.timeout(20):
                reading = await anext(doctor.measurements())
            frame = await doctor.first_video_frame(timeout=20)
            assert room.pc is not None
            assert room.pc.localDescription is not None
            kinds = ", ".join(sorted(_candidate_types(room.pc.localDescription.sdp)))
            print(f"media connected; room's candidate types: {kinds}")
            print(f"physician got {reading.model_dump()['bpm']:g}/min and video {frame.width}x{frame.height}")
            same = doctor.remote_fingerprint == room.fingerprint
            print(f"DTLS fingerprint the physician sees is the room's: {same}")


async def _admitted(room: RoomPeer) -> bool:
    await room.wait_admitted(timeout=10)
    return room.admitted.is_set()


# -- command line ---------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command")
    make = commands.add_parser("setup", help="CA, certificates, keys, TURN secret, turnserver.conf")
    make.add_argument("--dir", type=Path, required=True)
    make.add_argument("--host", action="append", help="DNS name or IP of the server (repeatable)")
    make.add_argument("--realm", default="turn.clinic.example")
    make.add_argument("--turn-ip", default="127.0.0.1", help="the address coturn listens and relays on")
    make.add_argument("--external-ip", help="the public address, if coturn is behind 1:1 NAT")
    make.add_argument("--turn-port", type=int, default=3478)
    make.add_argument("--turn-tls-port", type=int, default=5349)
    make.add_argument("--min-port", type=int, default=49152)
    make.add_argument("--max-port", type=int, default=65535)
    make.add_argument("--turn-log", default="/var/log/turnserver.log", help="coturn's log file, or stdout")
    for name, text in (("serve", "serve https/wss"), ("check", "serve and run a room and a physician")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--dir", type=Path, required=True)
        command.add_argument("--turn-url", action="append", default=[], help="turn:/turns: URL (repeatable)")
        command.add_argument("--origin", action="append", default=[], help="another allowed console origin")
        if name == "serve":
            command.add_argument("--bind", default="127.0.0.1")
            command.add_argument("--port", type=int, default=8443)
            command.add_argument("--behind-proxy", action="store_true", help="plain HTTP; the proxy does TLS")
        else:
            command.add_argument("--relay-only", action="store_true", help="media through TURN only")
    return top


def main(argv: Sequence[str]) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    if args.command == "setup":
        args.host = args.host or ["localhost", "127.0.0.1"]
        setup(args)
    elif args.command == "serve":
        asyncio.run(serve(args))
    elif args.command == "check":
        asyncio.run(check(args))
    else:  # the whole tour in a temporary directory
        with tempfile.TemporaryDirectory() as folder:
            main(["setup", "--dir", folder])
            main(["check", "--dir", folder])


if __name__ == "__main__":
    main(sys.argv[1:])
