#!/usr/bin/env python3
"""OSDP card readers for tests, the demo and the door bench.

Each reader is a real OSDP Peripheral Device from the PyPI `libosdp` wheel
(pinned 3.2.9, an implementation independent of the controller's), with
Secure Channel. A reader listens on TCP (as a serial server would expose it)
or sits on a pseudo-terminal (as an RS-485 adapter would), and the
controller connects to it.

Everything the readers see is printed to stdout, one JSON object per line:
  {"ev": "listening", "pd": 0, "port": 40123}      or  "pty", "path": ...
  {"ev": "online", "pd": 0, "online": true, "sc": true}
  {"ev": "command", "pd": 0, "t": 12.345, "cmd": {...}}   (LED, OUTPUT, ...)
  {"ev": "bench", ...}                                     (bench mode)

Lines on stdin act on a reader (PD numbers from 0):
  card PD HEX            a raw card read (HEX of 16 bytes = 128 bits)
  wiegand PD BITS HEX    a Wiegand card read
  door PD open|closed    input 0, the door contact
  rex PD on|off          input 1, the request-to-exit button
  tamper PD on|off       the tamper switch
  quit

Bench mode (--bench-secs) presents --card at every reader every
--bench-interval-ms, after all readers are online with Secure Channel, and
reports card-read-to-strike-command latency percentiles.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time
import tty

from osdp import (Capability, CardFormat, Channel, Command, Event, LogLevel,
                  PDCapabilities, PDInfo, PeripheralDevice, StatusReportType)

OUT = threading.Lock()
T0 = time.monotonic()

# The 3.2.9 binding releases one reference to None more than it takes each
# time a command handler returns (sys.getrefcount(None) falls by one per
# command), and Python 3.11 aborts ("none_dealloc") once None's count
# reaches zero: a few thousand commands. Each handled command pays the
# reference back here.
NONE_DEBT = []


def emit(obj):
    obj.setdefault("t", round(time.monotonic() - T0, 6))
    with OUT:
        sys.stdout.write(json.dumps(obj, default=lambda b: b.hex()) + "\n")
        sys.stdout.flush()


class TcpChannel(Channel):
    """Accepts one controller at a time; after it leaves, the next."""

    def __init__(self, port):
        super().__init__()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(4)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.conn = None

    def _conn(self):
        if self.conn is None:
            try:
                self.conn, _ = self.lsock.accept()
                self.conn.setblocking(False)
                self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except BlockingIOError:
                pass
        return self.conn

    def _drop(self):
        try:
            self.conn.close()
        finally:
            self.conn = None

    def read(self, max_bytes):
        c = self._conn()
        if c is None:
            return b""
        try:
            data = c.recv(max_bytes)
        except BlockingIOError:
            return b""
        except OSError:
            self._drop()
            return b""
        if not data:
            self._drop()
        return data

    def write(self, buf):
        c = self._conn()
        if c is not None:
            try:
                c.sendall(buf)
            except OSError:
                self._drop()
        return len(buf)

    def flush(self):
        pass


class PtyChannel(Channel):
    """The reader's end of a pseudo-terminal; the controller opens the other
    end as its serial device."""

    def __init__(self):
        super().__init__()
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def read(self, max_bytes):
        try:
            return os.read(self.master, max_bytes)
        except (BlockingIOError, OSError):
            return b""

    def write(self, buf):
        try:
            os.write(self.master, buf)
        except OSError:
            pass
        return len(buf)

    def flush(self):
        pass


class Reader:
    def __init__(self, n, channel, scbk, nak_buzzer):
        self.n = n
        self.channel = channel
        self.inputs = [0, 0]   # door contact (1 = open), request to exit
        self.local = [0, 0]    # tamper, power
        self.nak_buzzer = nak_buzzer
        self.outputs = []      # times of OUTPUT commands (bench)
        self.cv = threading.Condition()
        info = PDInfo(101, channel, scbk=scbk, name=f"reader-{n}")
        caps = PDCapabilities([
            (Capability.ContactStatusMonitoring, 1, 2),
            (Capability.OutputControl, 1, 1),
            (Capability.LEDControl, 1, 1),
            (Capability.AudibleControl, 1, 1),
            (Capability.CardDataFormat, 1, 0),
        ])
        self.pd = PeripheralDevice(info, caps, log_level=LogLevel.Warning,
                                   command_handler=self.on_command)
        self.pd.start()

    def on_command(self, cmd):
        # Runs on the PD's refresh thread: never submit events from here.
        NONE_DEBT.append(None)
        now = time.monotonic()
        if cmd.get("command") == Command.Output:
            with self.cv:
                self.outputs.append(now)
                self.cv.notify_all()
        emit({"ev": "command", "pd": self.n, "cmd": dict(cmd)})
        if cmd.get("command") == Command.Buzzer and self.nak_buzzer:
            return -1, None
        return 0, None

    def submit(self, ev):
        return self.pd.submit_event(ev)

    def card(self, data, bits=None, wiegand=False):
        return self.submit({
            "event": Event.CardRead, "reader_no": 0, "direction": 0,
            "format": CardFormat.Wiegand if wiegand else CardFormat.Unspecified,
            "length": bits if bits is not None else len(data) * 8,
            "data": data,
        })

    def set_input(self, i, v):
        self.inputs[i] = v
        return self.submit({"event": Event.Status, "type": StatusReportType.Input,
                            "report": bytes(self.inputs)})

    def set_local(self, i, v):
        self.local[i] = v
        return self.submit({"event": Event.Status, "type": StatusReportType.Local,
                            "report": bytes(self.local)})


def watch(readers, stop):
    """Reports session changes and keeps the PDs' command queues empty."""
    last = {}
    while not stop.is_set():
        for r in readers:
            state = (r.pd.is_online(), r.pd.is_sc_active())
            if last.get(r.n) != state:
                last[r.n] = state
                emit({"ev": "online", "pd": r.n, "online": state[0], "sc": state[1]})
            while r.pd.get_command(timeout=-1) is not None:
                pass
        time.sleep(0.05)


def handle(readers, line):
    p = line.split()
    if not p:
        return True
    if p[0] == "quit":
        return False
    try:
        r = readers[int(p[1])]
        if p[0] == "card":
            ok = r.card(bytes.fromhex(p[2]))
        elif p[0] == "wiegand":
            ok = r.card(bytes.fromhex(p[3]), bits=int(p[2]), wiegand=True)
        elif p[0] == "door":
            ok = r.set_input(0, 1 if p[2] == "open" else 0)
        elif p[0] == "rex":
            ok = r.set_input(1, 1 if p[2] == "on" else 0)
        elif p[0] == "tamper":
            ok = r.set_local(0, 1 if p[2] == "on" else 0)
        else:
            emit({"ev": "error", "line": line})
            return True
        emit({"ev": "submitted", "pd": r.n, "what": p[0], "ok": bool(ok)})
    except (IndexError, ValueError) as e:
        emit({"ev": "error", "line": line, "error": str(e)})
    return True


def percentile(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bench(readers, card, secs, interval):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(r.pd.is_sc_active() for r in readers):
        time.sleep(0.1)
    up = sum(1 for r in readers if r.pd.is_sc_active())
    emit({"ev": "bench_start", "readers_up": up})
    lat, missing = [], [0]
    lock = threading.Lock()

    def one(r, phase):
        time.sleep(phase)
        end = time.monotonic() + secs
        while time.monotonic() < end:
            with r.cv:
                seen = len(r.outputs)
            t = time.monotonic()
            r.card(card)
            with r.cv:
                got = r.cv.wait_for(lambda: len(r.outputs) > seen, timeout=3)
                at = r.outputs[seen] if got else None
            with lock:
                if got:
                    lat.append(at - t)
                else:
                    missing[0] += 1
            time.sleep(max(0, interval - (time.monotonic() - t)))

    ts = [threading.Thread(target=one, args=(r, interval * i / len(readers)))
          for i, r in enumerate(readers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ms = [x * 1000 for x in lat]
    emit({"ev": "bench", "readers": len(readers), "readers_up": up,
          "interval_ms": interval * 1000, "secs": secs, "samples": len(ms),
          "unanswered": missing[0],
          "p50_ms": percentile(ms, 0.50), "p90_ms": percentile(ms, 0.90),
          "p99_ms": percentile(ms, 0.99), "max_ms": max(ms) if ms else None})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--port", type=int, default=0, help="first TCP port; 0 = any free")
    ap.add_argument("--pty", action="store_true", help="pseudo-terminals instead of TCP")
    ap.add_argument("--scbk", help="32 hex digits (the reader's Secure Channel Base Key)")
    ap.add_argument("--scbk-file", help="file holding the key")
    ap.add_argument("--nak-buzzer", action="store_true", help="refuse buzzer commands")
    ap.add_argument("--bench-secs", type=float, default=0)
    ap.add_argument("--bench-interval-ms", type=float, default=1000)
    ap.add_argument("--card", help="card presented in bench mode (32 hex digits)")
    a = ap.parse_args()
    if a.scbk_file:
        with open(a.scbk_file) as f:
            a.scbk = f.read().strip()
    scbk = bytes.fromhex(a.scbk) if a.scbk else None
    readers = []
    for n in range(a.count):
        if a.pty:
            ch = PtyChannel()
            emit({"ev": "pty", "pd": n, "path": ch.path})
        else:
            ch = TcpChannel(a.port + n if a.port else 0)
            emit({"ev": "listening", "pd": n, "port": ch.port})
        readers.append(Reader(n, ch, scbk, a.nak_buzzer))
    stop = threading.Event()
    threading.Thread(target=watch, args=(readers, stop), daemon=True).start()
    if a.bench_secs:
        bench(readers, bytes.fromhex(a.card), a.bench_secs, a.bench_interval_ms / 1000)
    else:
        for line in sys.stdin:
            if not handle(readers, line.strip()):
                break
    stop.set()
    for r in readers:
        r.pd.stop()
    emit({"ev": "bye"})


if __name__ == "__main__":
    main()
