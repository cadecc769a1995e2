#!/usr/bin/env python3
"""A SmartPay shop written apart from golive, in Python's standard library only.

It is deliberately unlike golive's Rust reference shop (src/providers/smartpay/reference/),
the way a team's own integration would be:

- it picks its own order ids (``ORD`` + hex) and never sees golive's; the id is only in the
  page it answers "Pay" with (``SHOP_STYLE=page``: 202 and an HTML page whose ``<main>`` carries
  ``data-order``) or in the Location header of a 201 (``SHOP_STYLE=location``);
- "Pay" is answered at once: Create Checkout runs in a background thread, and the page asks
  the shop's server for the checkout token (``GET /orders/<id>/checkout``) until it is there;
- the widget's result is answered 202 at once and verified in a background thread with Get
  Payment Status of the transaction the shop created for the order (not the one the page
  names); PENDING is re-checked three times (after 2, 5 and 10 s), then logged for support;
- style ``page`` authenticates with an OAuth token renewed once two thirds of its lifetime
  have passed (and never used in its last 30 s), sends no partnerReference and captures/refunds with explicit amounts; style
  ``location`` uses Basic authentication (the other scheme SmartPay offers), sends the order id
  as partnerReference and captures/refunds without an amount (the whole payment);
- shipping (capture) and refunds answer 201 with the modification they created.

Planted mistakes, switched on by ``SHOP_FLAWS`` (comma separated), for golive's tests:

- ``trust_widget``: marks the order paid when the page says the widget succeeded, without
  asking SmartPay;
- ``no_pending_recheck``: takes a PENDING status as final and gives the order up;
- ``pending_as_paid``: takes a PENDING status as paid;
- ``token_until_expiry``: keeps a token for an hour whatever its expires_in says (renewing it
  only once SmartPay refuses it);
- ``new_modification_id_on_retry``: a capture or refund retried after a 5xx gets a new
  modificationId;
- ``refund_reuses_capture_id``: one modificationId per order, for its capture and its refund.

Environment: SMARTPAY_BASE_URL, SMARTPAY_MERCHANT_KEY, SMARTPAY_AUTHENTICATION_KEY,
SMARTPAY_CLIENT_ID, SMARTPAY_CLIENT_SECRET, PORT, SHOP_STYLE, SHOP_FLAWS.
"""

import base64
import decimal
import html
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE = os.environ["SMARTPAY_BASE_URL"].rstrip("/")
MERCHANT_KEY = os.environ["SMARTPAY_MERCHANT_KEY"]
AUTHENTICATION_KEY = os.environ["SMARTPAY_AUTHENTICATION_KEY"]
CLIENT_ID = os.environ["SMARTPAY_CLIENT_ID"]
CLIENT_SECRET = os.environ["SMARTPAY_CLIENT_SECRET"]
PORT = int(os.environ.get("PORT", "8080"))
STYLE = os.environ.get("SHOP_STYLE", "page") or "page"
KNOWN_FLAWS = {
    "trust_widget",
    "no_pending_recheck",
    "pending_as_paid",
    "token_until_expiry",
    "new_modification_id_on_retry",
    "refund_reuses_capture_id",
}
FLAWS = {f.strip() for f in os.environ.get("SHOP_FLAWS", "").split(",") if f.strip()}
if STYLE not in ("page", "location"):
    sys.exit(f"SHOP_STYLE must be page or location, not {STYLE!r}")
if FLAWS - KNOWN_FLAWS:
    sys.exit(f"unknown flaws {sorted(FLAWS - KNOWN_FLAWS)}; known: {sorted(KNOWN_FLAWS)}")

# SmartPay asks for a client timeout of at least 90 s.
TIMEOUT_S = 90
# After the first PENDING answer: re-check after 2, 5 and 10 s, then give up and log.
RECHECK_AFTER_S = (2, 3, 5)
PENDING = {"AUTHORIZATION_PENDING", "CAPTURE_PENDING"}
ACCEPT_LANGUAGE = "en-GB,en;q=0.8,de;q=0.5"

orders = {}
orders_lock = threading.Lock()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class TokenBox:
    """The OAuth token (style page), renewed once two thirds of its lifetime have passed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.token = None
        self.renew_at = 0.0

    def get(self):
        with self.lock:
            if self.token is None or time.monotonic() >= self.renew_at:
                self.token, self.renew_at = self.fetch()
            return self.token

    def drop(self, token):
        with self.lock:
            if self.token == token:
                self.token = None

    def fetch(self):
        form = urllib.parse.urlencode(
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
        ).encode()
        request = urllib.request.Request(
            f"{BASE}/oauth2/token",
            data=form,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as r:
            answer = json.loads(r.read())
        lifetime = float(answer.get("expires_in") or 0)
        if "token_until_expiry" in FLAWS:
            lifetime = 3600.0
            return answer["access_token"], started + lifetime
        # Two thirds of its lifetime, and never into its last 30 s (a token that lives only
        # seconds is fetched again for every call).
        return answer["access_token"], started + min(lifetime * 2 / 3, lifetime - 30)


tokens = TokenBox()


def basic_auth():
    raw = f"{MERCHANT_KEY}:{AUTHENTICATION_KEY}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def api(method, path, body=None):
    """One SmartPay call: (HTTP status, JSON answer or {}); None as status when it got no answer.

    A Bearer token SmartPay refuses is dropped and the call sent once more with a new one."""
    for attempt in (1, 2):
        if STYLE == "location":
            auth = basic_auth()
        else:
            token = tokens.get()
            auth = "Bearer " + token
        headers = {"Authorization": auth, "Accept-Language": ACCEPT_LANGUAGE, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except OSError as e:
            log(method, path, "got no answer:", e)
            return None, {}
        if status == 401 and STYLE == "page" and attempt == 1:
            tokens.drop(token)
            continue
        try:
            return status, json.loads(raw or b"{}")
        except ValueError:
            return status, {}
    return status, {}


def money(amount):
    return float(amount)


def create_checkout(order_id):
    """The background half of "Pay": Create Checkout, then the token is there for the page."""
    with orders_lock:
        order = dict(orders[order_id])
    description = f"Order {order_id}: {order['item']}"[:127]
    body = {
        "merchantKey": MERCHANT_KEY,
        "payment": {"amount": money(order["amount"]), "currencyCode": order["currency"], "description": description},
        "consumer": {"firstName": "Kim", "lastName": "Nguyen", "emailAddress": "kim.nguyen@example.org"},
        "billingAddress": {"addressLine1": "Hauptstrasse", "number": "7", "city": "Berlin", "postCode": "10115", "countryCode": "DE"},
    }
    if STYLE == "location":
        body["partnerReference"] = order_id
    status, answer = api("POST", "/payment/creation", body)
    with orders_lock:
        o = orders[order_id]
        if status in (200, 201) and answer.get("transactionId") and answer.get("checkoutToken"):
            o["transaction"] = answer["transactionId"]
            o["checkout_token"] = answer["checkoutToken"]
            o["state"] = "awaiting_payment"
        else:
            o["state"] = "checkout_failed"
            log(order_id, "Create Checkout failed:", status, answer)


def settle(order_id, answer):
    """The order's state from a status answer; True when nothing more is to be learned."""
    status = answer.get("paymentStatus")
    overview = answer.get("transactionOverview") or {}
    with orders_lock:
        order = orders[order_id]
        try:
            same_amount = decimal.Decimal(str(overview.get("amount"))) == order["amount"]
        except decimal.InvalidOperation:
            same_amount = False
        same = same_amount and overview.get("currencyCode") == order["currency"]
        same = same and answer.get("transactionId") == order["transaction"]
        if status in ("CAPTURED", "SETTLED") and same:
            order["state"] = "paid"
        elif status == "AUTHORIZATION_COMPLETED" and same:
            order["state"] = "authorised"
        elif status in PENDING and "pending_as_paid" in FLAWS and same:
            order["state"] = "paid"
        elif status in PENDING and "no_pending_recheck" not in FLAWS:
            order["state"] = "pending"
            return False
        else:
            order["state"] = "failed"
    if order["state"] == "failed":
        # For support: the full answer (transactionId, reconciliationReferenceId, ...).
        log(order_id, "not paid; SmartPay said:", json.dumps(answer))
    return True


def verify(order_id):
    """The background check after the widget's success: Get Payment Status of the shop's own
    transaction, re-checked while PENDING (three times), then left for support."""
    transaction = None
    for _ in range(50):
        # The page may report before the background Create Checkout has stored its answer.
        with orders_lock:
            transaction = orders[order_id].get("transaction")
        if transaction or orders[order_id]["state"] == "checkout_failed":
            break
        time.sleep(0.1)
    if not transaction:
        with orders_lock:
            orders[order_id]["state"] = "failed"
        return
    path = "/payment/status/" + urllib.parse.quote(transaction)
    waits = list(RECHECK_AFTER_S)
    while True:
        status, answer = api("GET", path)
        if status == 200:
            if settle(order_id, answer):
                return
        elif status is not None and status < 500:
            with orders_lock:
                orders[order_id]["state"] = "failed"
            log(order_id, "status refused:", status, answer)
            return
        if not waits:
            log(order_id, "still not confirmed after three re-checks; logged for support:", json.dumps(answer))
            return
        time.sleep(waits.pop(0))


def modify(order_id, kind):
    """Capture or refund with a modificationId, retried twice after a 5xx or no answer."""
    with orders_lock:
        order = orders.get(order_id)
        if order is None or not order.get("transaction"):
            return 404, {"error": "no payment for this order"}
        if "refund_reuses_capture_id" in FLAWS:
            modification_id = order.setdefault("modification_id", f"{order_id}-mod")
        else:
            modification_id = f"{order_id}-{kind}-{uuid.uuid4().hex[:8]}"
        transaction = order["transaction"]
        amount, currency = order["amount"], order["currency"]
    body = {"modificationId": modification_id}
    if STYLE == "page":
        body["amount"] = money(amount)
        body["currencyCode"] = currency
    path = f"/payment/{urllib.parse.quote(transaction)}/{kind}"
    for attempt in range(3):
        if attempt:
            time.sleep(0.3 * attempt)
            if "new_modification_id_on_retry" in FLAWS:
                body["modificationId"] = f"{order_id}-{kind}-{uuid.uuid4().hex[:8]}"
        status, answer = api("POST", path, body)
        if status is not None and status < 500:
            break
    if status is not None and 200 <= status < 300:
        with orders_lock:
            orders[order_id]["state"] = "paid" if kind == "capture" else "refunded"
    return status, answer


def checkout_page(order_id):
    o = orders[order_id]
    oid = html.escape(order_id)
    return (
        "<!doctype html><html><head><title>Checkout</title>"
        '<script src="https://widget.smartpay.example/v2/smartpay.js"></script></head><body>'
        f'<main id="checkout" data-order="{oid}"><h1>Order {oid}</h1>'
        f"<p>{html.escape(o['item'])}: {o['amount']} {html.escape(o['currency'])}</p>"
        '<div id="widget">Preparing your payment…</div></main><script>'
        f"const order = '{oid}';\n"
        "async function start() {\n"
        "  const r = await fetch('/orders/' + order + '/checkout');\n"
        "  if (r.status === 202) { return setTimeout(start, 300); }\n"
        "  const c = await r.json();\n"
        "  const report = (result) => (t) => fetch('/orders/' + order + '/widget-result', {method: 'POST',\n"
        "    headers: {'Content-Type': 'application/x-www-form-urlencoded'},\n"
        "    body: new URLSearchParams({transactionId: t.transactionId, result})});\n"
        "  SmartPay.render('#widget', {token: c.token, successHandler: report('success'), errorHandler: report('error')});\n"
        "}\nstart();</script></body></html>"
    )


class Shop(BaseHTTPRequestHandler):
    server_version = "PyShop/2.0"

    def log_message(self, fmt, *args):
        log("shop:", fmt % args)

    def send(self, status, body, content_type="text/html; charset=utf-8", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, value, headers=()):
        return self.send(status, json.dumps(value), "application/json", headers)

    def form(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return dict(urllib.parse.parse_qsl(raw))

    def parts(self):
        return urllib.parse.urlsplit(self.path).path.strip("/").split("/")

    def do_GET(self):
        parts = self.parts()
        if parts == ["healthz"]:
            return self.send(200, "ok", "text/plain")
        if len(parts) >= 2 and parts[0] == "orders":
            with orders_lock:
                order = orders.get(parts[1])
                order = order and dict(order)
            if order is None:
                return self.send_json(404, {"error": "no such order"})
            if len(parts) == 2:
                return self.send_json(200, {"order": parts[1], "state": order["state"], "total": str(order["amount"])})
            if parts[2:] == ["checkout"]:
                # What the page asks until the background Create Checkout is done.
                if order.get("checkout_token"):
                    return self.send_json(200, {"token": order["checkout_token"]})
                return self.send_json(202, {"state": order["state"]})
            if parts[2:] == ["pay"]:
                return self.send(200, checkout_page(parts[1]))
        return self.send(404, "<p>Not found</p>")

    def do_POST(self):
        parts = self.parts()
        if parts == ["cart", "pay"]:
            return self.pay(self.form())
        if len(parts) == 3 and parts[0] == "orders":
            order_id, action = parts[1], parts[2]
            with orders_lock:
                known = order_id in orders
            if not known:
                return self.send_json(404, {"error": "no such order"})
            if action == "widget-result":
                return self.widget_result(order_id, self.form())
            if action in ("shipments", "refunds"):
                self.form()
                kind = "capture" if action == "shipments" else "refund"
                status, answer = modify(order_id, kind)
                if status is not None and 200 <= status < 300:
                    location = f"/orders/{order_id}/{action}/{answer.get('modificationId', '')}"
                    return self.send_json(201, answer, headers=[("Location", location)])
                return self.send_json(502, {"error": f"SmartPay answered {status}", "smartpay": answer})
        return self.send(404, "<p>Not found</p>")

    def pay(self, form):
        try:
            amount = decimal.Decimal(form.get("amount", ""))
        except decimal.InvalidOperation:
            return self.send(400, "<p>Bad amount</p>")
        if amount <= 0:
            return self.send(400, "<p>Bad amount</p>")
        order_id = "ORD" + secrets.token_hex(6)
        with orders_lock:
            orders[order_id] = {
                "amount": amount,
                "currency": form.get("currency") or "EUR",
                "item": form.get("item") or "your order",
                "state": "new",
            }
        threading.Thread(target=create_checkout, args=(order_id,), daemon=True).start()
        if STYLE == "location":
            return self.send(
                201,
                f'<p>Order created: <a href="/orders/{order_id}/pay">continue to payment</a></p>',
                headers=[("Location", f"/orders/{order_id}/pay")],
            )
        return self.send(202, checkout_page(order_id))

    def widget_result(self, order_id, form):
        result = form.get("result")
        claimed = form.get("transactionId")
        with orders_lock:
            order = orders[order_id]
            own = order.get("transaction")
            if result != "success":
                order["state"] = "failed"
                return self.send_json(200, {"order": order_id, "state": "failed"})
            if "trust_widget" in FLAWS:
                order["state"] = "paid"
                return self.send_json(200, {"order": order_id, "state": "paid"})
            order["state"] = "verifying"
        if claimed != own:
            log(order_id, "the page names transaction", claimed, "but the order's is", own)
        threading.Thread(target=verify, args=(order_id,), daemon=True).start()
        return self.send_json(202, {"order": order_id, "state": "verifying"})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Shop)
    server.daemon_threads = True
    log(f"shop on http://127.0.0.1:{PORT} (style {STYLE}, flaws {sorted(FLAWS) or 'none'})")
    server.serve_forever()


if __name__ == "__main__":
    main()
