#!/usr/bin/env python3
"""A KontoCloud shop written apart from golive, in Python's standard library only.

It is deliberately unlike golive's Rust reference shop (src/providers/kontocloud/reference/), the way
a team's own integration would be:

- it picks its own order ids (``ORD`` + hex) and never sees golive's;
- the "Pay" button is a form post; the shop answers 202 with an HTML page whose form carries
  the order id (``SHOP_STYLE=form``), or 303 to its own page ``/orders/<id>/pay``
  (``SHOP_STYLE=redirect``): the id is only in the page or the Location header;
- the browser's return is answered at once (202) and the payment is confirmed with
  Get Payment Status in a background thread;
- a token is reused until 80 % of its lifetime has passed, localDate/localTime are in the
  shop's own time zone (UTC+05:30), Accept-Language is a weighted list;
- its order API answers ``{"order": {"state": "PAID"}}``;
- ``SHOP_CONFIRM_DELAY_S`` makes the background check wait before it asks (a busy worker
  queue): its traffic then arrives after golive's scenario moved on, and must still be judged
  with the payment it is about.

Planted mistakes, switched on by ``SHOP_FLAWS`` (comma separated), for golive's tests:

- ``trust_callback``: marks the order paid on the browser's return, without asking KontoCloud;
- ``constant_partner_reference``: sends one partnerReference on every request;
- ``retry_forever``: retries Get Payment Status after 0099 up to 12 times.

Environment: KONTOCLOUD_BASE_URL, KONTOCLOUD_USER_ID, KONTOCLOUD_PASSWORD, PORT.
"""

import datetime
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

BASE = os.environ["KONTOCLOUD_BASE_URL"].rstrip("/")
USER_ID = os.environ["KONTOCLOUD_USER_ID"]
PASSWORD = os.environ["KONTOCLOUD_PASSWORD"]
PORT = int(os.environ.get("PORT", "8080"))
STYLE = os.environ.get("SHOP_STYLE", "form")
CONFIRM_DELAY_S = float(os.environ.get("SHOP_CONFIRM_DELAY_S", "0"))
FLAWS = {f.strip() for f in os.environ.get("SHOP_FLAWS", "").split(",") if f.strip()}
PUBLIC = f"http://127.0.0.1:{PORT}"
SHOP_ZONE = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
ACCEPT_LANGUAGE = "de-DE,de;q=0.9,en;q=0.7"
MAX_RETRIES = 12 if "retry_forever" in FLAWS else 3
CONSTANT_REFERENCE = "shop-" + secrets.token_hex(6)

orders = {}
orders_lock = threading.Lock()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def partner_reference():
    if "constant_partner_reference" in FLAWS:
        return CONSTANT_REFERENCE
    return uuid.uuid4().hex


def local_now():
    now = datetime.datetime.now(SHOP_ZONE)
    return now.strftime("%Y-%m-%d"), now.strftime("%H%M%S")


def parse_time(text):
    # validUntil is RFC 3339; Python 3.11 reads it, fractions and `Z` included.
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Tokens:
    """One token, reused until 80 % of its lifetime has passed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.token = None
        self.renew_at = 0.0

    def get(self):
        with self.lock:
            if self.token is None or time.time() >= self.renew_at:
                self.token, self.renew_at = self.issue()
            return self.token

    def forget(self):
        with self.lock:
            self.token = None

    def issue(self):
        local_date, local_time = local_now()
        body = {
            "password": PASSWORD,
            "partnerReference": partner_reference(),
            "localDate": local_date,
            "localTime": local_time,
        }
        status, answer = call(
            "POST",
            f"{BASE}/user/{urllib.parse.quote(USER_ID)}/issue",
            body=body,
        )
        if status != 200 or answer.get("responseCode") != "0000":
            raise RuntimeError(f"Issue Token answered {status}: {answer}")
        issued = time.time()
        until = parse_time(answer["validUntil"]).timestamp()
        return answer["token"], issued + 0.8 * max(until - issued, 0.0)


tokens = Tokens()


def call(method, url, body=None, headers=None):
    """One request to KontoCloud: (HTTP status, JSON answer or {})."""
    data = None
    all_headers = {"Accept-Language": ACCEPT_LANGUAGE, "Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json; charset=utf-8"
    all_headers.update(headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=90) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {}


def payment_status(unique_reference):
    """Get Payment Status with a bounded retry after 0099; the answer, or None."""
    retries = 0
    refused = False
    while True:
        try:
            token = tokens.get()
        except (RuntimeError, OSError) as e:
            log("no token:", e)
            return None
        local_date, local_time = local_now()
        query = urllib.parse.urlencode(
            {
                "partnerReference": partner_reference(),
                "localDate": local_date,
                "localTime": local_time,
            }
        )
        url = f"{BASE}/payment/{urllib.parse.quote(unique_reference)}/status?{query}"
        try:
            status, answer = call("GET", url, headers={"X-Auth-Token": token})
        except OSError as e:
            log("status call failed:", e)
            return None
        if status == 401 and not refused:
            refused = True
            tokens.forget()
            continue
        if status >= 500 or answer.get("responseCode") == "0099":
            if retries >= MAX_RETRIES:
                return None
            retries += 1
            time.sleep(0.2 * retries)
            continue
        if status != 200 or answer.get("responseCode") != "0000":
            return None
        return answer


def confirm(order_id, unique_reference):
    """The background check: the order's state from KontoCloud's own answer."""
    time.sleep(CONFIRM_DELAY_S)
    answer = payment_status(unique_reference)
    with orders_lock:
        order = orders.get(order_id)
        if order is None:
            return
        if answer is None:
            order["state"] = "UNCONFIRMED"
            return
        code = answer.get("statusCode")
        try:
            amount = decimal.Decimal(str(answer.get("presentationAmount")))
        except decimal.InvalidOperation:
            amount = None
        full = amount == order["amount"] and answer.get("presentationCurrCode") == order["currency"]
        if order["kind"] == "BlockAmount":
            order["state"] = "AUTHORISED" if code == "AUTHORIZED" and full else "REFUSED"
        else:
            order["state"] = "PAID" if code == "CAPTURED" and full else "REFUSED"
        log(order_id, "is", order["state"], "after", code)


def ewallet_fields(order_id):
    order = orders[order_id]
    return [
        ("merchantTransactionId", order_id),
        ("amount", f"{order['amount']:.2f}"),
        ("currency", order["currency"]),
        ("paymentType", order["kind"]),
        ("callBackUrl", f"{PUBLIC}/kc/back?o={order_id}"),
        ("partnerReference", order["reference"]),
    ]


def pay_page(order_id, auto):
    inputs = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in ewallet_fields(order_id)
    )
    onload = ' onload="document.forms[0].submit()"' if auto else ""
    return (
        f"<!doctype html><html><head><title>Checkout</title></head><body{onload}>"
        f"<h1>Order {html.escape(order_id)}</h1><p>Total {orders[order_id]['amount']:.2f} "
        f"{html.escape(orders[order_id]['currency'])}</p>"
        f'<form action="{html.escape(BASE)}/ewallet" method="post">{inputs}'
        '<button type="submit">Pay with KontoCloud</button></form></body></html>'
    )


class Shop(BaseHTTPRequestHandler):
    server_version = "PyShop/1.0"

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

    def form(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return dict(urllib.parse.parse_qsl(raw))

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        return url.path.rstrip("/") or "/", dict(urllib.parse.parse_qsl(url.query))

    def do_GET(self):
        path, query = self.route()
        parts = path.strip("/").split("/")
        if path == "/healthz":
            return self.send(200, "ok", "text/plain")
        if len(parts) == 3 and parts[0] == "api" and parts[1] == "orders":
            with orders_lock:
                order = orders.get(parts[2])
                state = order and order["state"]
            if order is None:
                return self.send(404, json.dumps({"error": "no such order"}), "application/json")
            return self.send(200, json.dumps({"order": {"id": parts[2], "state": state}}), "application/json")
        if len(parts) == 3 and parts[0] == "orders" and parts[2] == "pay" and parts[1] in orders:
            return self.send(200, pay_page(parts[1], auto=False))
        if path == "/kc/back":
            return self.back(query)
        return self.send(404, "<p>Not found</p>")

    def do_POST(self):
        path, query = self.route()
        if path == "/pay":
            return self.pay(self.form())
        if path == "/kc/back":
            fields = dict(query)
            fields.update(self.form())
            return self.back(fields)
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
                "currency": form.get("currency", "EUR"),
                "kind": form.get("kind", "Purchase"),
                "state": "NEW",
                "reference": partner_reference(),
            }
        if STYLE == "redirect":
            return self.send(303, "", headers=[("Location", f"/orders/{order_id}/pay")])
        return self.send(202, pay_page(order_id, auto=True))

    def back(self, fields):
        order_id = fields.get("o") or fields.get("merchantTransactionId", "")
        with orders_lock:
            order = orders.get(order_id)
        if order is None:
            return self.send(404, "<p>Unknown order</p>")
        reference = fields.get("uniqueReference")
        if fields.get("paymentResult") != "OK" or not reference:
            with orders_lock:
                order["state"] = "FAILED"
            return self.send(200, "<p>Your payment did not go through.</p>")
        if "trust_callback" in FLAWS:
            with orders_lock:
                order["state"] = "AUTHORISED" if order["kind"] == "BlockAmount" else "PAID"
            return self.send(200, "<p>Thank you!</p>")
        threading.Thread(target=confirm, args=(order_id, reference), daemon=True).start()
        return self.send(202, "<p>We are confirming your payment with KontoCloud.</p>")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Shop)
    server.daemon_threads = True
    log(f"shop on {PUBLIC} (style {STYLE}, flaws {sorted(FLAWS) or 'none'})")
    server.serve_forever()


if __name__ == "__main__":
    main()
