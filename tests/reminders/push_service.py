"""A push service on 127.0.0.1 that behaves like a browser vendor's: it checks the VAPID JWT and
decrypts each payload (aes128gcm) with the test subscription's own keys, as the phone would."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    device: str
    payload: dict[str, Any]
    claims: dict[str, Any]
    vapid_key: str
    ttl: str
    urgency: str
    at: float = field(default_factory=time.monotonic)


@dataclass
class Device:
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    # Answers to give, in order, before the default 201 (e.g. [429, 503] or [410]).
    answers: list[int] = field(default_factory=list)


class PushService:
    def __init__(self) -> None:
        self.devices: dict[str, Device] = {}
        self.received: list[Received] = []
        self.refused: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PushService:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def subscription(self, name: str, *answers: int) -> dict[str, Any]:
        """A new device's subscription, as `pushManager.subscribe()` would give it."""
        key = ec.generate_private_key(ec.SECP256R1())
        device = Device(key, os.urandom(16), list(answers))
        self.devices[name] = device
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.origin}/push/{name}",
            "keys": {"p256dh": b64url(public), "auth": b64url(device.auth)},
        }

    def payloads(self, device: str | None = None) -> list[dict[str, Any]]:
        return [r.payload for r in self.received if device is None or r.device == device]

    def _verify(self, authorization: str) -> tuple[dict[str, Any], str]:
        """The VAPID header `vapid t=<jwt>, k=<key>`: a valid ES256 JWT signed by that key."""
        scheme, _, rest = authorization.partition(" ")
        assert scheme.lower() == "vapid", authorization
        parts = dict(item.strip().split("=", 1) for item in rest.split(","))
        token, key = parts["t"], parts["k"]
        header, claims, signature = token.split(".")
        assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
        raw = unb64url(signature)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        return json.loads(unb64url(claims)), key

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                device = service.devices.get(name)
                if device is None:
                    self._answer(404)
                    return
                with service.lock:
                    answer = device.answers.pop(0) if device.answers else 201
                if answer != 201:
                    service.refused.append((name, answer))
                    self._answer(answer, retry_after="0" if answer == 429 else None)
                    return
                try:
                    claims, key = service._verify(self.headers["authorization"])
                    assert self.headers["content-encoding"] == "aes128gcm"
                    clear = http_ece.decrypt(
                        body, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm"
                    )
                    received = Received(name, json.loads(clear), claims, key, self.headers.get("ttl", ""),
                                        self.headers.get("urgency", ""))  # fmt: skip
                except (AssertionError, InvalidSignature, KeyError, ValueError) as error:
                    service.errors.append(f"{name}: {type(error).__name__}: {error}")
                    self._answer(400)
                    return
                with service.lock:
                    service.received.append(received)
                self._answer(201)

            def _answer(self, status: int, retry_after: str | None = None) -> None:
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("content-length", "0")
                self.end_headers()

        return Handler


def check_claims(received: Received, service: PushService, subject: str, public_key: str) -> None:
    """What every push must carry: our key, the push service's origin as audience, a near expiry, a subject."""
    assert received.vapid_key == public_key
    assert received.claims["aud"] == service.origin
    assert received.claims["sub"] == subject
    assert time.time() < received.claims["exp"] <= time.time() + 24 * 3600
