"""Link probe for bench/netns.py: what a shaped namespace link really carries.

Run once per host, all at the same time (netns.py starts one per namespace):

    python3 netns_link.py --rank I --hosts IP0,IP1,... [--port P] [--mbytes M] [--pings K]

Ring pattern, as a ring allreduce loads the links: every host sends M MB to the next host
(I+1 mod N) while it receives M MB from the previous one, over TCP. Rank 0 prints one JSON
line: the slowest host's bytes/s (the ring's effective bandwidth per link and direction) and
the round-trip time of 1-byte TCP messages between ranks 0 and 1 (median of K), whose half is
the per-message latency the cost model uses.
"""
import argparse
import json
import socket
import threading
import time


def recv_exact(s, n):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = s.recv_into(view[got:], min(n - got, 1 << 20))
        if k == 0:
            raise ConnectionError("peer closed")
        got += k
    return buf


def connect(ip, port, timeout=30.0):
    end = time.time() + timeout
    while True:
        try:
            s = socket.create_connection((ip, port), timeout=timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rank", type=int, required=True)
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--port", type=int, default=29700)
    ap.add_argument("--mbytes", type=float, default=32)
    ap.add_argument("--pings", type=int, default=200)
    a = ap.parse_args()
    hosts = a.hosts.split(",")
    n, r = len(hosts), a.rank
    nbytes = int(a.mbytes * 1e6)
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((hosts[r], a.port))
    lst.listen(4)
    nxt = connect(hosts[(r + 1) % n], a.port)
    prv, _ = lst.accept()
    prv.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # Start together: a token around the ring.
    if r == 0:
        nxt.sendall(b"g"); recv_exact(prv, 1)
    else:
        recv_exact(prv, 1); nxt.sendall(b"g")
    payload = bytes(1 << 20)
    result = {}

    def send():
        left = nbytes
        while left > 0:
            k = min(left, len(payload))
            nxt.sendall(payload[:k])
            left -= k

    t0 = time.perf_counter()
    th = threading.Thread(target=send)
    th.start()
    recv_exact(prv, nbytes)
    th.join()
    mine = time.perf_counter() - t0
    # Gather the slowest time at rank 0 around the ring (max so far travels on).
    if r == 0:
        nxt.sendall(json.dumps(mine).encode().ljust(64)); slowest = max(mine, float(recv_exact(prv, 64).decode()))
    else:
        got = float(recv_exact(prv, 64).decode()); nxt.sendall(json.dumps(max(got, mine)).encode().ljust(64))
    # Latency: 1-byte ping-pong between ranks 0 and 1 (over rank 0's "next" link).
    rtts = []
    if r == 0:
        for _ in range(a.pings):
            t = time.perf_counter(); nxt.sendall(b"p"); recv_exact(nxt, 1); rtts.append(time.perf_counter() - t)
    elif r == 1:
        for _ in range(a.pings):
            recv_exact(prv, 1); prv.sendall(b"q")
    if r == 0:
        rtts.sort()
        result = {"event": "link", "hosts": n, "bytes": nbytes, "slowest_seconds": slowest,
                  "bytes_per_second": nbytes / slowest, "rtt_median_seconds": rtts[len(rtts) // 2],
                  "rtt_min_seconds": rtts[0]}
        print(json.dumps(result), flush=True)
    nxt.close(); prv.close(); lst.close()


if __name__ == "__main__":
    main()
