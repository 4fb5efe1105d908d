#!/usr/bin/env python3
"""hostile_dns.py -- a DNS proxy that lies: the fake responder of
tests/integration/hostile.sh.

usage: hostile_dns.py LISTEN_ADDR@PORT UPSTREAM_ADDR@PORT ALT_ADDR MODE_FILE READY_FILE

Listens on UDP and TCP at LISTEN. Every query is forwarded to the real
server UPSTREAM (same transport) and its real reply is taken apart to make
hostile ones: the real reply from another port and from another address
(ALT_ADDR), with the wrong ID, question name or type, its TSIG removed, its
MAC altered, a forged BADSIG without MAC, a forged unsigned REFUSED, cut in
half, garbage after the question, compression loops, noise; over TCP also
an empty frame and a length prefix of 65535 with a few bytes behind it.

MODE_FILE is read at every query (one word), so a test switches modes
without restarting:

  pass          the real reply only
  mixed         every hostile reply first, then the real one
  tc            UDP: a truncated (TC) reply, so that the client goes to TCP;
                TCP: the first connection of a query gets the huge length
                prefix and is closed, the next one every hostile frame and
                then the real reply
  only:NAME     only the hostile reply NAME, never the real one (over TCP
                too); only:huge-length (the connection then closes) and
                only:huge-stall (it stays open 5 s) answer UDP with TC so that
                the client comes over TCP for them

Every query is logged on stdout as "udp|tcp query id=N opcode=N len=N", every
reply sent as "udp|tcp NAME id=N" (the test counts them: a fake that did not
lie proves nothing). READY_FILE is created once
the sockets listen. Runs until killed.
"""
import os
import socket
import struct
import sys
import threading
import time

UDP_VARIANTS = ["noise", "wrong-port", "wrong-addr", "wrong-id", "wrong-question", "wrong-type",
                "truncated", "garbage", "loop", "loop2", "no-tsig", "bad-mac", "forged-badsig",
                "unsigned-refused"]
TCP_VARIANTS = ["empty-frame", "wrong-id", "wrong-question", "wrong-type", "truncated", "garbage",
                "loop", "loop2", "no-tsig", "bad-mac", "forged-badsig", "unsigned-refused"]

log_lock = threading.Lock()
tcp_seen = set()  # query IDs whose first TCP connection got the huge prefix


def log(text):
    with log_lock:
        print(text, flush=True)


def addr(text):
    ip, port = text.rsplit("@", 1)
    return ip, int(port)


def mode(path):
    try:
        with open(path) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


# --- taking messages apart -----------------------------------------------------

def skip_name(m, off):
    while True:
        c = m[off]
        if c & 0xC0 == 0xC0:
            return off + 2
        if c == 0:
            return off + 1
        off += 1 + c


def read_name(m, off):
    """The name at off, uncompressed (requests carry no pointers in TSIG names)."""
    out = b""
    for _ in range(128):
        c = m[off]
        if c & 0xC0 == 0xC0:
            off = ((c & 0x3F) << 8) | m[off + 1]
            continue
        out += m[off:off + 1 + c]
        if c == 0:
            return out
        off += 1 + c
    raise ValueError("name loop")


def layout(m):
    """(end of the question, [(rr start, type, rdata offset, rdlength)])."""
    qd, an, ns, ar = struct.unpack("!4H", m[4:12])
    off = 12
    for _ in range(qd):
        off = skip_name(m, off) + 4
    qend = off
    rrs = []
    for _ in range(an + ns + ar):
        start = off
        off = skip_name(m, off)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", m[off:off + 10])
        rrs.append((start, rtype, off + 10, rdlen))
        off += 10 + rdlen
    return qend, rrs


def tsig(m):
    """The last record if it is a TSIG: (start, rdata offset, rdlength), else None."""
    try:
        _, rrs = layout(m)
    except (IndexError, struct.error):
        return None
    if rrs and rrs[-1][1] == 250:
        return rrs[-1][0], rrs[-1][2], rrs[-1][3]
    return None


def with_counts(m, an, ns, ar):
    return m[:6] + struct.pack("!3H", an, ns, ar) + m[12:]


# --- the hostile replies -------------------------------------------------------

def variant(name, query, real):
    """The bytes of hostile reply NAME, or None when it does not apply."""
    qend, _ = layout(real)
    rt = tsig(real)
    qt = tsig(query)
    if name == "noise":
        return os.urandom(48)
    if name in ("wrong-port", "wrong-addr"):
        return real
    if name == "wrong-id":
        return struct.pack("!H", (struct.unpack("!H", real[:2])[0] + 1) & 0xFFFF) + real[2:]
    if name == "wrong-question":
        if struct.unpack("!H", real[4:6])[0] == 0 or real[12] == 0:
            return None
        first = real[13]
        other = ord("x") if first not in (ord("x"), ord("X")) else ord("y")
        return real[:13] + bytes([other]) + real[14:]
    if name == "wrong-type":
        if struct.unpack("!H", real[4:6])[0] == 0:
            return None
        t = skip_name(real, 12)
        return real[:t] + struct.pack("!H", 16) + real[t + 2:]  # TXT
    if name == "truncated":
        cut = qend + (len(real) - qend) // 2
        if cut <= qend:
            return with_counts(real[:qend], 1, 0, 0)
        return real[:cut]
    if name == "garbage":
        # Header and question right, then bytes no parser may accept: a
        # label type 01 (reserved) opens the first record.
        return with_counts(real[:qend], 2, 0, 1) + bytes([0x40 | (os.urandom(1)[0] & 0x3F)]) + \
            os.urandom(40)
    if name == "loop":
        # An answer whose owner is a pointer to itself, its CNAME target too.
        base = with_counts(real[:qend], 1, 0, 0)
        p = len(base)
        return base + struct.pack("!HHHIHH", 0xC000 | p, 5, 1, 300, 2, 0xC000 | p)
    if name == "loop2":
        # Two names pointing at each other: one of the pointers points forward.
        base = with_counts(real[:qend], 1, 0, 0)
        p = len(base)
        rr = struct.pack("!HHHIH", 0xC000 | (p + 12), 5, 1, 300, 2) + struct.pack("!H", 0xC000 | p)
        return base + rr
    if name == "no-tsig":
        if rt is None:
            return None
        ar = struct.unpack("!H", real[10:12])[0]
        return real[:10] + struct.pack("!H", ar - 1) + real[12:rt[0]]
    if name == "bad-mac":
        if rt is None:
            return None
        pos = skip_name(real, rt[1]) + 10  # algorithm, time, fudge, MAC size
        macsize = struct.unpack("!H", real[pos - 2:pos])[0]
        if macsize == 0:
            return None
        return real[:pos] + bytes([real[pos] ^ 0x55]) + real[pos + 1:]
    if name == "forged-badsig":
        # What a server says to a request it cannot verify: NOTAUTH and a
        # TSIG with error BADSIG and no MAC -- which anybody can forge.
        if qt is None:
            return None
        keyname = read_name(query, qt[0])
        alg = read_name(query, qt[1])
        now = int(time.time())
        msg = real[:2] + bytes([real[2] | 0x80, 9]) + \
            struct.pack("!4H", struct.unpack("!H", real[4:6])[0], 0, 0, 1) + real[12:qend]
        rdata = alg + struct.pack("!HIHH", now >> 32, now & 0xFFFFFFFF, 300, 0) + query[:2] + \
            struct.pack("!HH", 16, 0)
        return msg + keyname + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
    if name == "unsigned-refused":
        # A final-looking error without a TSIG: forged just as easily.
        if qt is None:
            return None
        return real[:2] + bytes([real[2] | 0x80, (real[3] & 0xF0) | 5]) + \
            struct.pack("!4H", struct.unpack("!H", real[4:6])[0], 0, 0, 0) + real[12:qend]
    raise ValueError(name)


def tc_reply(query):
    qend, _ = layout(query)
    flags = query[2] | 0x80 | 0x02
    return query[:2] + bytes([flags, query[3] & 0xF0]) + struct.pack(
        "!4H", struct.unpack("!H", query[4:6])[0], 0, 0, 0) + query[12:qend]


# --- UDP -----------------------------------------------------------------------

def upstream_udp(up, query):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.sendto(query, up)
        return s.recv(65535)
    except OSError:
        return None
    finally:
        s.close()


def serve_udp(sock, alt_port_sock, alt_addr_sock, up, mode_file):
    while True:
        query, client = sock.recvfrom(65535)
        m = mode(mode_file)
        if len(query) < 12:
            continue
        qid = struct.unpack("!H", query[:2])[0]
        log("udp query id=%d opcode=%d len=%d" % (qid, (query[2] >> 3) & 15, len(query)))
        if m in ("tc", "only:huge-length", "only:huge-stall"):
            sock.sendto(tc_reply(query), client)
            log("udp tc id=%d" % qid)
            continue
        real = upstream_udp(up, query)
        if real is None:
            log("udp upstream-timeout id=%d" % qid)
            continue
        names = []
        if m == "mixed":
            names = UDP_VARIANTS
        elif m.startswith("only:"):
            names = [m[5:]]
        for name in names:
            try:
                data = variant(name, query, real)
            except (IndexError, struct.error, ValueError):
                data = None
            if data is None:
                continue
            out = sock
            if name == "wrong-port":
                out = alt_port_sock
            elif name == "wrong-addr":
                out = alt_addr_sock
            out.sendto(data, client)
            log("udp %s id=%d" % (name, qid))
        if not m.startswith("only:"):
            sock.sendto(real, client)
            log("udp real id=%d" % qid)


# --- TCP -----------------------------------------------------------------------

def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def upstream_tcp(up, query):
    try:
        with socket.create_connection(up, timeout=3) as s:
            s.sendall(struct.pack("!H", len(query)) + query)
            n = recv_exact(s, 2)
            return recv_exact(s, struct.unpack("!H", n)[0]) if n else None
    except OSError:
        return None


def frame(data):
    return struct.pack("!H", len(data)) + data


def serve_tcp_conn(conn, up, mode_file):
    with conn:
        conn.settimeout(10)
        try:
            n = recv_exact(conn, 2)
            query = recv_exact(conn, struct.unpack("!H", n)[0]) if n else None
        except OSError:
            return
        if query is None or len(query) < 12:
            return
        m = mode(mode_file)
        qid = struct.unpack("!H", query[:2])[0]
        log("tcp query id=%d opcode=%d len=%d" % (qid, (query[2] >> 3) & 15, len(query)))
        real = upstream_tcp(up, query)
        if real is None:
            log("tcp upstream-failed id=%d" % qid)
            return
        if m in ("only:huge-length", "only:huge-stall") or (m == "tc" and qid not in tcp_seen):
            tcp_seen.add(qid)
            conn.sendall(struct.pack("!H", 65535) + real[:100])
            log("tcp %s id=%d" % ("huge-stall" if m == "only:huge-stall" else "huge-length", qid))
            if m == "only:huge-stall":
                time.sleep(5)  # held open: the client must give up on its own
            return  # closed: the client tries again, or gives up
        names = []
        if m in ("mixed", "tc"):
            names = TCP_VARIANTS
        elif m.startswith("only:"):
            names = [m[5:]]
        out = b""
        for name in names:
            if name == "empty-frame":
                out += b"\0\0"
                log("tcp empty-frame id=%d" % qid)
                continue
            if name in ("wrong-port", "wrong-addr", "noise"):
                continue
            try:
                data = variant(name, query, real)
            except (IndexError, struct.error, ValueError):
                data = None
            if data is None:
                continue
            out += frame(data)
            log("tcp %s id=%d" % (name, qid))
        if not m.startswith("only:"):
            out += frame(real)
            log("tcp real id=%d" % qid)
        try:
            conn.sendall(out)
            # Let the client read and close first.
            conn.recv(1)
        except OSError:
            pass


def serve_tcp(lsock, up, mode_file):
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn, up, mode_file), daemon=True).start()


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__.split("\n\n")[1])
    listen, up = addr(sys.argv[1]), addr(sys.argv[2])
    alt_ip, mode_file, ready = sys.argv[3], sys.argv[4], sys.argv[5]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(listen)
    alt_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    alt_port.bind((listen[0], 0))
    alt_addr = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    alt_addr.bind((alt_ip, listen[1]))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(listen)
    tcp.listen(64)
    threading.Thread(target=serve_tcp, args=(tcp, up, mode_file), daemon=True).start()
    with open(ready, "w") as f:
        f.write("%d\n" % os.getpid())
    log("listening on %s@%d, upstream %s@%d" % (listen + up))
    serve_udp(udp, alt_port, alt_addr, up, mode_file)


if __name__ == "__main__":
    main()
