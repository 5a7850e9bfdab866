# Hostile HTTP clients for tests of the agent's port: each connection asks for a path and
# never reads the answer, with a receive buffer as small as the kernel allows, so that the
# server's output backs up after a few KiB (Node cannot set SO_RCVBUF on a TCP socket, and a
# paused Node socket would let the kernel buffer up to tcp_rmem's maximum, tens of MiB, per
# connection). With "renew", a connection the server closes is replaced at once, as an
# attacker would. Connections are spread over the given source addresses (all of 127/8 is
# local on Linux), to play one client or many.
#
# Usage: python3 slow-readers.py '<json options>'; stops when its stdin closes.
# Prints one JSON line per report: {"open": n, "opened": n, "dropped": n, "failed": n}.
import json
import select
import socket
import sys
import time

options = json.loads(sys.argv[1])
host = options["host"]
port = options["port"]
count = options["count"]
sources = options.get("sources") or [""]
rcvbuf = options.get("rcvbuf", 1)
renew = options.get("renew", True)
request = options["request"].encode("latin-1")
report_every = options.get("reportEverySeconds", 0.2)

HANGUP = select.POLLERR | select.POLLHUP | select.POLLRDHUP
poller = select.poll()
poller.register(sys.stdin.fileno(), select.POLLIN | select.POLLHUP)
sockets = {}
stats = {"open": 0, "opened": 0, "dropped": 0, "failed": 0}
next_source = 0


def open_one():
    global next_source
    source = sources[next_source % len(sources)]
    next_source += 1
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    # Closing sends a reset: no connection left lingering in the kernel after the test.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.settimeout(1.0)
    try:
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        s.sendall(request)
    except OSError:
        s.close()
        stats["failed"] += 1
        return False
    s.setblocking(False)
    sockets[s.fileno()] = s
    poller.register(s.fileno(), HANGUP)
    stats["opened"] += 1
    return True


def drop(fd):
    s = sockets.pop(fd)
    poller.unregister(fd)
    s.close()
    stats["dropped"] += 1


for _ in range(count):
    open_one()
last_report = 0.0
while True:
    now = time.monotonic()
    if now - last_report >= report_every:
        stats["open"] = len(sockets)
        print(json.dumps(stats), flush=True)
        last_report = now
    for fd, events in poller.poll(int(report_every * 1000)):
        if fd == sys.stdin.fileno():
            if events & select.POLLHUP or not sys.stdin.buffer.read1(4096):
                for s in sockets.values():
                    s.close()
                sys.exit(0)
        elif events & HANGUP and fd in sockets:
            drop(fd)
    while renew and len(sockets) < count:
        if not open_one():
            time.sleep(0.05)
            break
