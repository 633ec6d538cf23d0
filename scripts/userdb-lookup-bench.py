#!/usr/bin/env python3
"""Times user lookups on entra-syncd's io.systemd.UserDatabase socket (scripts/bench.sh userdb).

Usage: userdb-lookup-bench.py SOCKET [N]

Enumerates the served users once, then makes N GetUserRecord calls by name (names drawn at random,
seed 7), N GetUserRecord calls for names nobody has (NoRecordFound: the request's decoding and
dispatch without a record to write) and N calls of org.varlink.service.GetInfo (the floor: a
trivial method on the same socket, the same client, the same connection), one call at a time on one
connection, and prints the median, p99 and mean microseconds per call of each and the lookup's
difference to the floor (what a lookup costs the daemon beyond the round trip).
"""
import json
import random
import socket
import statistics
import sys
import time

path = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
service = path.rsplit("/", 1)[-1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)
buffer = b""


def send(method, parameters, more=False):
    message = {"method": method, "parameters": parameters}
    if more:
        message["more"] = True
    sock.sendall(json.dumps(message).encode() + b"\0")


def receive():
    global buffer
    while b"\0" not in buffer:
        chunk = sock.recv(1 << 20)
        if not chunk:
            sys.exit("the daemon closed the connection")
        buffer += chunk
    message, _, buffer = buffer.partition(b"\0")
    return json.loads(message)


# Every served user name (one enumeration, streamed with "more").
send("io.systemd.UserDatabase.GetUserRecord", {"service": service}, more=True)
names = []
while True:
    reply = receive()
    if "error" in reply:
        sys.exit(f"enumeration failed: {reply}")
    names.append(reply["parameters"]["record"]["userName"])
    if not reply.get("continues"):
        break
random.seed(7)
queries = [random.choice(names) for _ in range(n)]


def timed(method, parameters_of, expect_error=None):
    samples = []
    for i in range(n):
        parameters = parameters_of(i)
        start = time.perf_counter_ns()
        send(method, parameters)
        reply = receive()
        samples.append((time.perf_counter_ns() - start) / 1000)
        if reply.get("error") != expect_error:
            sys.exit(f"{method} {parameters}: {reply}")
    samples.sort()
    return samples


def summary(samples):
    return (statistics.median(samples), samples[int(len(samples) * 0.99) - 1], statistics.fmean(samples))


# Warm-up (page faults, allocator), then the two series interleaved in blocks so load spikes hit both.
timed("org.varlink.service.GetInfo", lambda i: {})
lookups, misses, floor = [], [], []
block = max(1, n // 10)
full_n = n
n = block
for _ in range(full_n // block):
    lookups += timed("io.systemd.UserDatabase.GetUserRecord", lambda i: {"userName": queries[len(lookups) + i], "service": service})
    misses += timed("io.systemd.UserDatabase.GetUserRecord", lambda i: {"userName": f"nobody-{i}", "service": service},
                    expect_error="io.systemd.UserDatabase.NoRecordFound")
    floor += timed("org.varlink.service.GetInfo", lambda i: {})
lookups.sort()
misses.sort()
floor.sort()
lm, lp, la = summary(lookups)
fm, fp, fa = summary(floor)
mm, mp, ma = summary(misses)
print(f"users_served={len(names)} calls={len(lookups)}")
print(f"GetUserRecord by name   median {lm:7.1f} us   p99 {lp:7.1f} us   mean {la:7.1f} us")
print(f"GetUserRecord, no such  median {mm:7.1f} us   p99 {mp:7.1f} us   mean {ma:7.1f} us")
print(f"GetInfo (floor)         median {fm:7.1f} us   p99 {fp:7.1f} us   mean {fa:7.1f} us")
print(f"lookup - floor          median {lm - fm:7.1f} us   p99 {lp - fp:7.1f} us   mean {la - fa:7.1f} us")
