#!/usr/bin/env python3
"""A MobilePay PoS V10 till backend written apart from golive, in Python's standard library only.

It is deliberately unlike golive's Rust reference till (src/providers/mobilepay/reference/), the
way a team's own point of sale would be:

- the cashier's "sale" gets the till's own order id (``ORD`` + hex), answered 201 at once with
  a Location header; the payment runs in a background thread (initiate, follow, capture);
- every payment and refund is polled at its own pace: the till waits the ``pollDelayInMs`` of
  that resource's last answer before polling it again;
- calls that time out (2 s for a POST, 1.5 s for a GET) or get a 5xx are sent again, three
  attempts at most, a create call with the same idempotency key; a 4xx is never repeated;
- "payment already active" (409 1301) is cleaned up: look the payment up by posId and orderId,
  cancel it, initiate anew;
- the access token is renewed once two thirds of its expires_in have passed, and never used
  in its last 30 s;
- a refund is captured with an empty body (the whole refund, as the V10 API allows).

Styles (``TILL_STYLE``), two readings of the API that are both right:

- ``a``: a token carrying the merchant_vat claim; payments initiated with their amount; the
  refund capture is a POST with no body at all;
- ``b``: a token without merchant_vat and the x-mobilepay-merchant-vat-number header on every
  call; payments prepared, then made ready with their amount; the refund capture sends ``{}``.

Planted mistakes, switched on by ``TILL_FLAWS`` (comma separated), for golive's tests:

- ``fixed_poll_interval``: polls every 100 ms, whatever pollDelayInMs says;
- ``new_key_on_retry``: a create call sent again after a timeout or 5xx gets a new key;
- ``retry_refused_capture``: sends a capture MobilePay refused with a 400 once more;
- ``capture_on_initiate``: captures as soon as MobilePay accepted the payment, before any
  poll said Reserved, as if initiating reserved the money (and again once it is Reserved);
- ``token_per_call``: asks for a new access token before every call.

Environment: MOBILEPAY_BASE_URL, MOBILEPAY_CLIENT_ID, MOBILEPAY_CLIENT_SECRET,
MOBILEPAY_MERCHANT_VAT, PORT, TILL_STYLE, TILL_FLAWS.
"""

import base64
import decimal
import json
import os
import secrets
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE = os.environ["MOBILEPAY_BASE_URL"].rstrip("/")
CLIENT_ID = os.environ["MOBILEPAY_CLIENT_ID"]
CLIENT_SECRET = os.environ["MOBILEPAY_CLIENT_SECRET"]
MERCHANT_VAT = os.environ["MOBILEPAY_MERCHANT_VAT"]
PORT = int(os.environ.get("PORT", "8080"))
STYLE = os.environ.get("TILL_STYLE", "a") or "a"
KNOWN_FLAWS = {
    "fixed_poll_interval",
    "new_key_on_retry",
    "retry_refused_capture",
    "capture_on_initiate",
    "token_per_call",
}
FLAWS = {f.strip() for f in os.environ.get("TILL_FLAWS", "").split(",") if f.strip()}
if STYLE not in ("a", "b"):
    sys.exit(f"TILL_STYLE must be a or b, not {STYLE!r}")
if FLAWS - KNOWN_FLAWS:
    sys.exit(f"unknown flaws {sorted(FLAWS - KNOWN_FLAWS)}; known: {sorted(KNOWN_FLAWS)}")

POST_TIMEOUT_S = 2.0
GET_TIMEOUT_S = 1.5
ATTEMPTS = 3
CLIENT_VERSION = "3.1.0" if STYLE == "a" else "3.2.17"
MERCHANT_POS_ID = "py-till-" + ("a" if STYLE == "a" else "b")
# However a payment goes, the till stops following it after this long.
FOLLOW_FOR_S = 120
FINAL = {"Captured", "CancelledByUser", "CancelledByClient", "CancelledByMobilePay", "ExpiredAndCancelled"}

sales = {}
sales_lock = threading.Lock()
pos_lock = threading.Lock()
pos_id = None


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Answer:
    def __init__(self, status, body):
        self.status = status  # None: no answer (timed out or the connection failed)
        self.body = body

    @property
    def ok(self):
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self):
        return self.status is None or self.status >= 500

    @property
    def code(self):
        return str(self.body.get("code", "")) if isinstance(self.body, dict) else ""

    def __repr__(self):
        return f"{self.status} {self.body}"


def send(method, url, data, headers, timeout):
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (socket.timeout, TimeoutError, OSError) as e:
        log(method, url, "got no answer:", e)
        return Answer(None, {})
    try:
        return Answer(status, json.loads(raw) if raw else {})
    except ValueError:
        return Answer(status, {})


class Token:
    """The integrator token, renewed once two thirds of its lifetime have passed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.value = None
        self.renew_at = 0.0

    def get(self):
        with self.lock:
            if self.value is None or time.monotonic() >= self.renew_at or "token_per_call" in FLAWS:
                self.value, self.renew_at = self.fetch()
            return self.value

    def fetch(self):
        fields = {"grant_type": "client_credentials"}
        if STYLE == "a":
            fields["merchant_vat"] = MERCHANT_VAT
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        headers = {
            "x-ibm-client-id": CLIENT_ID,
            "Authorization": "Basic " + basic,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        started = time.monotonic()
        for _ in range(ATTEMPTS):
            a = send(
                "POST",
                f"{BASE}/integrator-authentication/connect/token",
                urllib.parse.urlencode(fields).encode(),
                headers,
                POST_TIMEOUT_S,
            )
            if a.ok:
                lifetime = float(a.body.get("expires_in") or 60)
                # Two thirds of its lifetime, and never into its last 30 s.
                return a.body["access_token"], started + min(lifetime * 2 / 3, lifetime - 30)
            if not a.retryable:
                break
            time.sleep(0.2)
        raise RuntimeError(f"no access token: {a}")


token = Token()


def pos_call(method, path, body=None, key=None, empty_body=False):
    """One call to the PoS V10 API."""
    try:
        bearer = token.get()
    except RuntimeError as e:
        log(e)
        return Answer(None, {})
    headers = {
        "x-ibm-client-id": CLIENT_ID,
        "Authorization": "Bearer " + bearer,
        "x-mobilepay-client-system-version": CLIENT_VERSION,
        "Accept": "application/json",
    }
    if STYLE == "b":
        headers["x-mobilepay-merchant-vat-number"] = MERCHANT_VAT
    if key is not None:
        headers["x-mobilepay-idempotency-key"] = key
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif empty_body:
        data = b""
    timeout = GET_TIMEOUT_S if method == "GET" else POST_TIMEOUT_S
    return send(method, BASE + path, data, headers, timeout)


def create(path, body):
    """A create call (point of sale, payment, refund) with an idempotency key, sent again with
    the same key after a timeout or a 5xx, three attempts at most."""
    key = str(uuid.uuid4())
    a = Answer(None, {})
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(0.25 * attempt)
            if "new_key_on_retry" in FLAWS:
                key = str(uuid.uuid4())
        a = pos_call("POST", path, body, key=key)
        if not a.retryable:
            return a
    return a


def retried(method, path, body=None, empty_body=False):
    """A call without a key, sent again after a timeout or a 5xx (three attempts at most)."""
    a = Answer(None, {})
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(0.25 * attempt)
        a = pos_call(method, path, body, empty_body=empty_body)
        if not a.retryable:
            return a
    return a


def find_pos():
    q = urllib.parse.urlencode({"merchantPosId": MERCHANT_POS_ID})
    a = retried("GET", f"/pos/v10/pointofsales?{q}")
    if not a.ok:
        raise RuntimeError(f"looking up the point of sale: {a}")
    found = a.body.get("pointOfSales") or []
    return found[0]["posId"] if found else None


def boot():
    """The till starts: its point of sale at MobilePay, looked up, created only if missing."""
    global pos_id
    with pos_lock:
        if pos_id:
            return pos_id
        found = find_pos()
        if not found:
            body = {"merchantPosId": MERCHANT_POS_ID, "storeId": "b3f0e9a4-5d1c-4c55-9e1a-py-store", "name": "Python till"}
            a = create("/pos/v10/pointofsales", body)
            if a.ok:
                found = a.body.get("posId")
            elif a.status == 409:
                found = find_pos()
            else:
                raise RuntimeError(f"creating the point of sale: {a}")
        pos_id = found
        return pos_id


def set_sale(sale_id, **changes):
    with sales_lock:
        sales[sale_id].update(changes)


def sale(sale_id):
    with sales_lock:
        s = sales.get(sale_id)
        return dict(s) if s else None


def start(sale_id):
    """Initiate (style a) or prepare and make ready (style b): the payment id and first delay."""
    s = sale(sale_id)
    amount = float(s["amount"])
    cleaned = False
    while True:
        if STYLE == "a":
            body = {
                "posId": s["pos_id"],
                "orderId": sale_id,
                "amount": amount,
                "currencyCode": s["currency"],
                "merchantPaymentLabel": sale_id,
                "plannedCaptureDelay": "None",
            }
            a = create("/pos/v10/payments", body)
        else:
            body = {"posId": s["pos_id"], "orderId": sale_id, "plannedCaptureDelay": "None"}
            a = create("/pos/v10/payments/prepare", body)
        if a.ok:
            break
        if a.status == 409 and a.code == "1301" and not cleaned:
            # Payment already active on the point of sale: find it, cancel it, start anew.
            cleaned = True
            q = urllib.parse.urlencode({"posId": s["pos_id"], "orderId": sale_id})
            found = retried("GET", f"/pos/v10/payments?{q}")
            for stale in found.body.get("paymentIds") or []:
                retried("POST", f"/pos/v10/payments/{stale}/cancel")
            continue
        raise RuntimeError(f"starting the payment: {a}")
    payment_id = a.body["paymentId"]
    delay = a.body.get("pollDelayInMs", 1000)
    if STYLE == "b":
        r = retried(
            "POST",
            f"/pos/v10/payments/{payment_id}/ready",
            {"amount": amount, "currencyCode": s["currency"], "plannedCaptureDelay": "None"},
        )
        if not r.ok:
            raise RuntimeError(f"making the payment ready: {r}")
    return payment_id, delay


class Poller:
    """Polls one resource at the pace MobilePay asks for (its own last pollDelayInMs)."""

    def __init__(self, path, first_delay_ms):
        self.path = path
        self.delay_ms = first_delay_ms

    def next(self):
        wait = 0.1 if "fixed_poll_interval" in FLAWS else self.delay_ms / 1000.0
        time.sleep(wait)
        a = pos_call("GET", self.path)
        if a.ok:
            self.delay_ms = a.body.get("pollDelayInMs", self.delay_ms)
        return a


def capture(payment_id, amount):
    path = f"/pos/v10/payments/{payment_id}/capture"
    a = retried("POST", path, {"amount": amount})
    if a.status == 400 and "retry_refused_capture" in FLAWS:
        a = pos_call("POST", path, {"amount": amount})
    return a


def follow(sale_id):
    """The background half of a sale: start the payment, follow it, capture a reservation."""
    try:
        payment_id, delay = start(sale_id)
    except RuntimeError as e:
        log(sale_id, e)
        set_sale(sale_id, status="FAILED")
        return
    set_sale(sale_id, payment_id=payment_id)
    poller = Poller(f"/pos/v10/payments/{payment_id}", delay)
    if "capture_on_initiate" in FLAWS:
        capture(payment_id, float(sale(sale_id)["amount"]))
    deadline = time.monotonic() + FOLLOW_FOR_S
    while time.monotonic() < deadline:
        a = poller.next()
        if a.retryable:
            continue
        if not a.ok:
            log(sale_id, "polling failed:", a)
            set_sale(sale_id, status="FAILED")
            return
        state = a.body.get("status")
        if state == "Reserved":
            c = capture(payment_id, a.body.get("amount"))
            set_sale(sale_id, status="PAID" if c.ok else "FAILED")
            if not c.ok:
                log(sale_id, "capture refused:", c)
            return
        if state in FINAL:
            set_sale(sale_id, status="PAID" if state == "Captured" else "CANCELLED")
            return
    set_sale(sale_id, status="FAILED")


def abort(sale_id):
    """The cashier aborts: cancel the payment at MobilePay (waiting a moment for the background
    thread to have started it)."""
    for _ in range(100):
        s = sale(sale_id)
        if s["payment_id"] or s["status"] != "PENDING":
            break
        time.sleep(0.05)
    if not s["payment_id"]:
        return Answer(409, {"error": "no payment to cancel"})
    a = retried("POST", f"/pos/v10/payments/{s['payment_id']}/cancel")
    if a.ok:
        set_sale(sale_id, status="CANCELLED")
    return a


def refund(sale_id, amount, then):
    """A refund of a paid sale, followed to Reserved at its own pace, then captured (with an
    empty body: the whole refund) or cancelled."""
    s = sale(sale_id)
    body = {
        "paymentId": s["payment_id"],
        "refundOrderId": "RF" + secrets.token_hex(8),
        "amount": float(amount),
        "currencyCode": s["currency"],
    }
    a = create("/pos/v10/refunds", body)
    if not a.ok:
        return a
    refund_id = a.body["refundId"]
    poller = Poller(f"/pos/v10/refunds/{refund_id}", a.body.get("pollDelayInMs", 1000))
    deadline = time.monotonic() + FOLLOW_FOR_S
    while time.monotonic() < deadline:
        p = poller.next()
        if p.retryable:
            continue
        if not p.ok:
            return p
        if p.body.get("status") == "Reserved":
            if then == "cancel":
                return retried("POST", f"/pos/v10/refunds/{refund_id}/cancel")
            if STYLE == "a":
                return retried("POST", f"/pos/v10/refunds/{refund_id}/capture", empty_body=True)
            return retried("POST", f"/pos/v10/refunds/{refund_id}/capture", {})
        if p.body.get("status") not in ("Initiated",):
            return p
    return Answer(None, {"error": "the refund never became Reserved"})


class Till(BaseHTTPRequestHandler):
    server_version = "PyTill/1.0"

    def log_message(self, fmt, *args):
        log("till:", fmt % args)

    def send_json(self, status, value, headers=()):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return {}

    def parts(self):
        return urllib.parse.urlsplit(self.path).path.strip("/").split("/")

    def do_GET(self):
        parts = self.parts()
        if parts == ["healthz"]:
            return self.send_json(200, {"up": True})
        if len(parts) == 3 and parts[:2] == ["till", "sales"]:
            s = sale(parts[2])
            if s is None:
                return self.send_json(404, {"error": "no such sale"})
            return self.send_json(200, {"sale": {"id": parts[2], "status": s["status"], "total": str(s["amount"])}})
        return self.send_json(404, {"error": "not found"})

    def do_POST(self):
        parts = self.parts()
        if parts == ["till", "boot"]:
            try:
                return self.send_json(200, {"posId": boot()})
            except RuntimeError as e:
                return self.send_json(503, {"error": str(e)})
        if parts == ["till", "sales"]:
            return self.new_sale(self.body())
        if len(parts) == 4 and parts[:2] == ["till", "sales"] and sale(parts[2]):
            sale_id, action = parts[2], parts[3]
            body = self.body()
            if action == "abort":
                a = abort(sale_id)
                return self.send_json(200 if a.ok else 502, {"sale": sale_id, "mobilepay": a.status})
            if action == "refunds":
                if sale(sale_id)["status"] != "PAID":
                    return self.send_json(409, {"error": "the sale is not paid"})
                a = refund(sale_id, body.get("amount"), body.get("then", "capture"))
                return self.send_json(201 if a.ok else 502, {"sale": sale_id, "mobilepay": a.status})
        return self.send_json(404, {"error": "not found"})

    def new_sale(self, body):
        try:
            amount = decimal.Decimal(str(body.get("total")))
        except decimal.InvalidOperation:
            return self.send_json(400, {"error": "bad total"})
        if not amount > 0:
            return self.send_json(400, {"error": "bad total"})
        try:
            till_pos = boot()
        except RuntimeError as e:
            return self.send_json(503, {"error": str(e)})
        sale_id = "ORD" + secrets.token_hex(8)
        with sales_lock:
            sales[sale_id] = {
                "amount": amount,
                "currency": body.get("currency") or "DKK",
                "status": "PENDING",
                "payment_id": None,
                "pos_id": till_pos,
            }
        threading.Thread(target=follow, args=(sale_id,), daemon=True).start()
        return self.send_json(201, {"sale": sale_id}, headers=[("Location", f"/till/sales/{sale_id}")])


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Till)
    server.daemon_threads = True
    log(f"till on http://127.0.0.1:{PORT} (style {STYLE}, flaws {sorted(FLAWS) or 'none'})")
    server.serve_forever()


if __name__ == "__main__":
    main()
