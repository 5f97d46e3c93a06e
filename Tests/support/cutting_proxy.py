"""A TCP proxy between the real `burnlink` CLI and the real server that cuts downloads.

It counts the bytes of each envelope response (the answer to a claim, or to a fetch of a
claim session's envelope again, from its status line on) and closes both sides of the
connection once a planned cut offset is reached. Other requests (metadata, confirm,
receipts) pass untouched. It can also play a dead network (every new connection is
closed at once), a slow one (a pause after each piece forwarded), and a gateway that gives
up on a claim the server has already granted: the claim goes through, and once the
server's answer starts, the client gets a 504 instead. And one that never passes a
confirm on (`hold_confirms`), to catch a client between its output and its confirm.
"""

import socket
import threading
import time

ENVELOPE_REQUESTS = (b"/claim HTTP/1.1", b"/envelope HTTP/1.1")


class CuttingProxy:
    def __init__(self, upstream_port, cuts=(), down_after_cut=False, delay=0.0, record=True, claim_timeouts=0,
                 hold_confirms=False):
        self.upstream_port = upstream_port
        self.cuts = list(cuts)          # offsets into the next envelope responses, in order
        self.down_after_cut = down_after_cut
        self.delay = delay              # seconds of pause after each piece sent downstream
        self.down = False               # a dead network: connections are closed on arrival
        self.claim_timeouts = claim_timeouts  # claims still to answer 504 after the server answered
        self.hold_confirms = hold_confirms
        self.held_confirms = 0          # confirms received and never passed on (with hold_confirms)
        self.cut_count = 0
        self.envelope_requests = 0
        self.record = record
        self.recorded = []              # what was forwarded of each envelope response (with record)
        self.forwarded = 0              # bytes of envelope responses forwarded, in all
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        self.listener.close()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        state = {"armed": False, "forwarded": 0}
        threading.Thread(target=self._upstream, args=(client, upstream, state), daemon=True).start()
        self._downstream(client, upstream, state)

    def _upstream(self, client, upstream, state):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                if self.hold_confirms and b"/confirm HTTP/1.1" in data:
                    with self.lock:
                        self.held_confirms += 1
                    continue
                if any(marker in data for marker in ENVELOPE_REQUESTS):
                    # HTTP/1.1 without pipelining: what comes back next is this request's answer.
                    with self.lock:
                        self.envelope_requests += 1
                    state["armed"], state["forwarded"] = True, 0
                    state["record"] = bytearray()
                    with self.lock:
                        self.recorded.append(state["record"])
                        if b"/claim HTTP/1.1" in data and self.claim_timeouts > 0:
                            self.claim_timeouts -= 1
                            state["timeout"] = True
                else:
                    state["armed"] = False
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            _shut(upstream)

    def _downstream(self, client, upstream, state):
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if state.get("timeout"):
                    client.sendall(b"HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    break
                if state["armed"]:
                    with self.lock:
                        cut = self.cuts[0] if self.cuts else None
                    if cut is not None and state["forwarded"] + len(data) >= cut:
                        self._count(state, data[:cut - state["forwarded"]])
                        client.sendall(data[:cut - state["forwarded"]])
                        with self.lock:
                            self.cuts.pop(0)
                            self.cut_count += 1
                            if self.down_after_cut:
                                self.down = True
                        break
                    self._count(state, data)
                    state["forwarded"] += len(data)
                client.sendall(data)
                if self.delay:
                    time.sleep(self.delay)
        except OSError:
            pass
        finally:
            _shut(client)
            _shut(upstream)


    def _count(self, state, data):
        with self.lock:
            self.forwarded += len(data)
        if self.record:
            state["record"] += data


def _shut(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
