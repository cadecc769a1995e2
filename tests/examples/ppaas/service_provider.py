#!/usr/bin/env python3
"""A PPaaS service provider written outside golive, in Python, the way a team might write one.

PPaaS forwards a terminal's QR code payment to this service's webhook; the service answers with
a QR code for the terminal to show, and reports the payment's progress to PPaaS's events API with
a client-credentials token. It is deliberately unlike golive's Rust reference service provider:

- the OAuth client is a real library (requests-oauthlib, client credentials by HTTP Basic), and
  the token is renewed once half of its lifetime has passed;
- the webhook is answered with 201, and the QR code as a plain string (style `a`) or as a PNG
  image in a data: URL (style `b`), with this service's own transaction id;
- PAYMENT_PENDING is sent right after the webhook is answered, from another thread;
- the consumer hook answers 202 at once and works in the background;
- style `a` sends an event as soon as it exists, so two events of a transaction may be retried at
  the same time, each after its own failure; only the terminal event waits for the earlier ones
  to be settled (PPaaS must not hear of anything after it). Style `b` sends them one at a time;
- event ids are this service's own (`evt-` and hex).

Configuration (environment): PPAAS_BASE_URL, PPAAS_REALM, PPAAS_CLIENT_ID, PPAAS_CLIENT_SECRET,
PPAAS_SP_STYLE (a or b), PPAAS_SP_FLAWS (comma-separated planted mistakes, see FLAWS) and
PPAAS_SP_EVENTS_PATH (where events go; `{id}` is the clientTransactionId).
"""

import argparse
import base64
import datetime
import json
import os
import re
import struct
import sys
import threading
import time
import urllib.parse
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

# The mistakes a test can plant, one switch each.
FLAWS = {
    "amounts_in_major_units": "events carry paymentAmount in major units (20.0 for 2000 cents)",
    "no_retry_after_failed_event": "sends each event once, whether PPaaS acknowledged it or not",
    "token_never_renewed": "keeps its first token for ever, even once PPaaS refuses it",
}

DEFAULT_EVENTS_PATH = "/qrcode-payment/v1/transactions/{id}/events"
# Back-off between deliveries of one event, in seconds: short, growing, bounded.
BACKOFF_S = [0.04, 0.06, 0.08, 0.1, 0.12]
RENEW_AT_SHARE = 0.5


def log(message):
    print(f"{datetime.datetime.now().isoformat(timespec='milliseconds')} {message}", flush=True)


class Config:
    def __init__(self):
        self.base_url = os.environ["PPAAS_BASE_URL"].rstrip("/")
        self.realm = os.environ["PPAAS_REALM"]
        self.client_id = os.environ["PPAAS_CLIENT_ID"]
        self.client_secret = os.environ["PPAAS_CLIENT_SECRET"]
        self.style = os.environ.get("PPAAS_SP_STYLE", "a") or "a"
        if self.style not in ("a", "b"):
            sys.exit(f"PPAAS_SP_STYLE must be a or b, not {self.style!r}")
        self.flaws = {f for f in os.environ.get("PPAAS_SP_FLAWS", "").split(",") if f}
        unknown = self.flaws - FLAWS.keys()
        if unknown:
            sys.exit(f"unknown flaws {sorted(unknown)}; known: {sorted(FLAWS)}")
        self.events_path = os.environ.get("PPAAS_SP_EVENTS_PATH") or DEFAULT_EVENTS_PATH
        # oauthlib insists on https; the test sandbox listens on plain http on loopback only.
        host = urllib.parse.urlsplit(self.base_url).hostname
        if host in ("127.0.0.1", "localhost", "::1"):
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

    def flawed(self, name):
        return name in self.flaws


class TokenHolder:
    """A client-credentials token from the realm, renewed at half its lifetime."""

    def __init__(self, config):
        self.config = config
        self.lock = threading.Lock()
        self.token = None
        self.obtained = 0.0
        self.lifetime = 0.0

    def url(self):
        c = self.config
        return f"{c.base_url}/auth/realms/{c.realm}/protocol/openid-connect/token"

    def get(self):
        with self.lock:
            if self.token is not None:
                if self.config.flawed("token_never_renewed"):
                    return self.token
                if time.monotonic() - self.obtained < self.lifetime * RENEW_AT_SHARE:
                    return self.token
            session = OAuth2Session(client=BackendApplicationClient(client_id=self.config.client_id))
            answer = session.fetch_token(
                token_url=self.url(),
                client_id=self.config.client_id,
                client_secret=self.config.client_secret,
                timeout=10,
            )
            self.token = answer["access_token"]
            self.lifetime = float(answer.get("expires_in", 0))
            self.obtained = time.monotonic()
            log(f"token renewed, lives {self.lifetime} s")
            return self.token

    def refused(self, token):
        """PPaaS refused this token (401): forget it, unless that is the planted mistake."""
        with self.lock:
            if self.token == token and not self.config.flawed("token_never_renewed"):
                self.token = None


class Transaction:
    def __init__(self, client_transaction_id, amount, currency):
        self.client_transaction_id = client_transaction_id
        self.amount = amount
        self.currency = currency
        self.own_id = "SP" + uuid.uuid4().hex[:20].upper()
        self.deliveries = []  # threads delivering this transaction's events
        self.lock = threading.Lock()


class ServiceProvider:
    def __init__(self, config):
        self.config = config
        self.tokens = TokenHolder(config)
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only: no proxy from the environment
        self.transactions = {}
        self.lock = threading.Lock()

    def timestamp(self):
        return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")

    def event(self, tx, event_type):
        event = {
            "eventId": "evt-" + uuid.uuid4().hex,
            "eventType": event_type,
            "clientTransactionId": tx.client_transaction_id,
            "timestamp": self.timestamp(),
            "serviceTransactionId": tx.own_id,
        }
        if event_type in ("PAYMENT_SUCCEEDED", "PAYMENT_PENDING"):
            amount = tx.amount / 100 if self.config.flawed("amounts_in_major_units") else tx.amount
            event["paymentAmount"] = {"amount": amount, "currency": tx.currency}
        if event_type == "PAYMENT_FAILED":
            event["reason"] = "The consumer declined the payment in the wallet app"
        return event

    def deliver(self, tx, event):
        """Sends one event until PPaaS acknowledges it: again after a 5xx or no answer (at most
        five times more), once more with a new token after a 401, never after another 4xx."""
        path = self.config.events_path.replace("{id}", requests.utils.quote(tx.client_transaction_id, safe=""))
        url = self.config.base_url + path
        retries = 0
        renewed = False
        while True:
            token = None
            status = None
            try:
                token = self.tokens.get()
                answer = self.http.post(url, json=event, headers={"Authorization": f"Bearer {token}"}, timeout=5)
                status = answer.status_code
            # Whatever failed (no answer, a refused token request, a broken answer), the event
            # was not acknowledged: it is sent again like after a 5xx.
            except Exception as e:  # noqa: BLE001
                log(f"event {event['eventId']} not delivered: {e}")
            if status is not None and 200 <= status < 300:
                log(f"event {event['eventType']} {event['eventId']} acknowledged")
                return
            if status == 401 and not renewed:
                renewed = True
                self.tokens.refused(token)
                continue
            if status is not None and 400 <= status < 500:
                log(f"event {event['eventId']} refused with {status}: giving up")
                return
            if self.config.flawed("no_retry_after_failed_event") or retries >= len(BACKOFF_S):
                log(f"event {event['eventId']} not acknowledged ({status}): giving up")
                return
            time.sleep(BACKOFF_S[retries])
            retries += 1

    def send(self, tx, event_type, after=()):
        """Delivers an event from its own thread, once the given deliveries are done."""

        def run():
            for earlier in after:
                earlier.join()
            self.deliver(tx, self.event(tx, event_type))

        thread = threading.Thread(target=run, name=f"event-{event_type}", daemon=True)
        with tx.lock:
            tx.deliveries.append(thread)
        thread.start()
        return thread

    def earlier_deliveries(self, tx):
        with tx.lock:
            return list(tx.deliveries)

    def payment_pending(self, tx):
        self.send(tx, "PAYMENT_PENDING")

    def consumer_acted(self, tx, action):
        kinds = {
            "pays": ["QR_CODE_SCANNED", "PAYMENT_SUCCEEDED"],
            "declines": ["QR_CODE_SCANNED", "PAYMENT_FAILED"],
            "abandons": ["PAYMENT_EXPIRED"],
        }[action]
        for kind in kinds:
            terminal = kind != "QR_CODE_SCANNED"
            # Style a: an in-progress event goes out at once, beside any other; style b and
            # every terminal event wait for what was sent before.
            after = self.earlier_deliveries(tx) if terminal or self.config.style == "b" else []
            self.send(tx, kind, after)

    def qr_code(self, tx):
        payload = f"PYSP:{tx.own_id}:{tx.amount}:{tx.currency}"
        if self.config.style == "a":
            return payload
        return {"type": "IMAGE", "value": "data:image/png;base64," + base64.b64encode(png_of(payload)).decode()}


def png_of(text):
    """A small black-and-white PNG whose rows are the bits of the text (the terminal's QR
    renderer is not under test; a real image is)."""
    data = text.encode()
    width = 8 * len(data)
    rows = b"".join(b"\x00" + bytes(255 if (byte >> (7 - bit)) & 1 else 0 for byte in data for bit in range(8)) for _ in range(8))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, 8, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


CONSUMER_PATH = re.compile(r"^/sp/transactions/([^/]+)/consumer$")


def handler_for(sp):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            log("http " + fmt % args)

        def answer(self, status, body):
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            self.wfile.flush()

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                value = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                return None
            return value if isinstance(value, dict) else None

        def do_GET(self):
            if self.path == "/healthz":
                return self.answer(200, {"status": "UP"})
            return self.answer(404, {"message": "not found"})

        def do_POST(self):
            if self.path == "/ppaas/webhooks/qr-payments":
                return self.webhook()
            m = CONSUMER_PATH.match(self.path)
            if m:
                return self.consumer(requests.utils.unquote(m.group(1)))
            return self.answer(404, {"message": "not found"})

        def webhook(self):
            call = self.body()
            if call is None:
                return self.answer(400, {"message": "a JSON object is expected"})
            client_transaction_id = call.get("clientTransactionId")
            amount_field = call.get("paymentAmount") or {}
            amount = amount_field.get("amount") if isinstance(amount_field, dict) else None
            currency = amount_field.get("currency") if isinstance(amount_field, dict) else None
            if (
                not isinstance(client_transaction_id, str)
                or not client_transaction_id
                or not isinstance(amount, int)
                or amount <= 0
                or not isinstance(currency, str)
                or not re.fullmatch(r"[A-Z]{3}", currency)
            ):
                return self.answer(400, {"message": "clientTransactionId and paymentAmount {amount, currency} are required"})
            tx = Transaction(client_transaction_id, amount, currency)
            with sp.lock:
                sp.transactions[client_transaction_id] = tx
            self.answer(
                201,
                {
                    "clientTransactionId": client_transaction_id,
                    "serviceTransactionId": tx.own_id,
                    "qrCode": sp.qr_code(tx),
                },
            )
            # Answered: the terminal shows the QR code; PPaaS hears that the payment is pending.
            sp.payment_pending(tx)

        def consumer(self, client_transaction_id):
            act = self.body() or {}
            action = act.get("action")
            with sp.lock:
                tx = sp.transactions.get(client_transaction_id)
            if tx is None:
                return self.answer(404, {"message": "unknown transaction"})
            if action not in ("pays", "declines", "abandons"):
                return self.answer(400, {"message": f"unknown action {action!r}"})
            threading.Thread(target=sp.consumer_acted, args=(tx, action), daemon=True).start()
            return self.answer(202, {"accepted": action})

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sp = ServiceProvider(Config())
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(sp))
    server.daemon_threads = True
    log(f"service provider on 127.0.0.1:{args.port}, style {sp.config.style}, flaws {sorted(sp.config.flaws)}")
    server.serve_forever()


if __name__ == "__main__":
    main()
