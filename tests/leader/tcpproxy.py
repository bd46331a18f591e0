#!/usr/bin/python3
"""A TCP proxy the leader-lease tests put between berth and Azurite, to cut the network:
  tcpproxy.py LISTEN_PORT_FILE TARGET_PORT
listens on a free loopback port (written to LISTEN_PORT_FILE) and forwards to 127.0.0.1:TARGET_PORT.
SIGUSR1 cuts: every forwarded connection is closed and new ones are accepted but never answered
(a partition: the client's requests hang until its own timeout). SIGUSR2 heals. Standard library
only; ends on SIGTERM."""
import signal
import socket
import sys
import threading

cut = threading.Event()
lock = threading.Lock()
live = set()


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data or cut.is_set():
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def handle(client, target):
    if cut.is_set():
        with lock:
            live.add(client)  # held, never answered; closed on heal
        return
    try:
        upstream = socket.create_connection(("127.0.0.1", target), timeout=5)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    with lock:
        live.update((client, upstream))
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def close_all():
    with lock:
        for s in list(live):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        live.clear()


def main():
    port_file, target = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGUSR1, lambda *_: (cut.set(), close_all()))
    signal.signal(signal.SIGUSR2, lambda *_: (cut.clear(), close_all()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    while True:
        try:
            c, _ = ls.accept()
        except InterruptedError:
            continue
        handle(c, target)


if __name__ == "__main__":
    main()
