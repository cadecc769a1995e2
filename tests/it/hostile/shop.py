# A hostile "integration" for golive's tests (tests/it/hostile.rs): one mode per way a team's
# shop can misbehave. Standard library only. Every process that matters appends its pid to
# the file named by $PIDFILE, so the test can prove none of them outlives the run.
import os
import signal
import socket
import sys
import threading
import time

mode = sys.argv[1]
port = int(os.environ["PORT"])


def note_pid():
    with open(os.environ["PIDFILE"], "a") as f:
        f.write(f"{os.getpid()}\n")


def reply(conn, status, body, extra=b""):
    conn.sendall(
        b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n"
        % (status, len(body), extra)
        + body
    )
    conn.close()


def handle(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    path = data.split(b"\r\n", 1)[0].split(b" ")[1]
    if path == b"/health":
        if mode == "never_ready":
            reply(conn, 503, b'{"status":"starting"}')
        else:
            reply(conn, 200, b"ok")
        return
    if mode == "kill_self":
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "hang":
        # Accepts, reads the request, and never answers.
        time.sleep(3600)
    elif mode == "garbage":
        conn.sendall(bytes(range(256)) * 16)
        conn.close()
        return
    elif mode == "huge":
        size = 40 * 1024 * 1024
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"[" * 65536
        try:
            for _ in range(size // len(block)):
                conn.sendall(block)
        except OSError:
            pass
        conn.close()
        return
    elif mode == "slowloris":
        # One byte of the answer every 0.3 s: headers that never finish in time.
        try:
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                conn.send(bytes([b]))
                time.sleep(0.3)
        except OSError:
            pass
        conn.close()
        return
    reply(conn, 404, b'{"error":"no such page"}')


def serve(noted=False):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    if not noted:
        note_pid()
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if mode == "detach":
    # The classic daemon: fork, leave the session and process group, fork again, keep the port.
    # The command returns only once the daemon has noted its pid, so the test knows it.
    ready_r, ready_w = os.pipe()
    if os.fork() > 0:
        os.close(ready_w)
        os.read(ready_r, 1)
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    note_pid()
    os.write(ready_w, b"x")
    mode = "ok"
    serve(noted=True)
serve()
