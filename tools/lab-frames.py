#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""802.1Q, QinQ and PPPoE frames into the lab's BNG, verdicts from counters.

The lab kernel has no 8021q or ppp support, so these frames cannot come
from devices: scapy builds them (a builder independent of tools/lib/pkt.c,
which the e2e tests use) and a packet socket in the internet or subscriber
namespace sends them into up0 or acc0. Each frame is sent COPIES times; its
verdict is the reason counter that grew (`portgate -j stats`).

    lab-frames.py LAB_ID     (after demo.sh step 4: NMS exempt, outbound
                              SMTP policy on) prints a table, exits 1 if a
                              frame's verdict is not the expected one.
"""
import ctypes
import json
import logging
import os
import socket
import subprocess
import sys
import time

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.layers.ppp import PPP, PPPoE  # noqa: E402
from scapy.packet import Raw  # noqa: E402

LAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab.sh")
COPIES = 3
JUDGED = ("blocked", "no_match", "exempt")  # PG_REASONS names
CLONE_NEWNET = 0x40000000

INET4, INET6 = "198.51.100.10", "2001:db8:100::10"
SUB4, SUB6 = "100.64.0.10", "2001:db8:64::10"
NMS4, RELAY6 = "192.0.2.10", "2001:db8:192::25"

ETH = Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
QINQ = Dot1AD(vlan=200) / Dot1Q(vlan=100)
PPPOE = PPPoE(sessionid=1)
PPP4 = Raw(b"\x00\x21")  # 2-byte protocol; scapy's PPP() compresses to 1
PPP6 = Raw(b"\x00\x57")


def syn(port):
    return TCP(sport=40000, dport=port, flags="S")


def snmp():
    return UDP(sport=40000, dport=161) / Raw(b"\x30\x00")


# (name, sender host, frame, expected reason)
FRAMES = [
    ("802.1Q IPv4 tcp/25", "inet",
     ETH / Dot1Q(vlan=100) / IP(src=INET4, dst=SUB4) / syn(25), "blocked"),
    ("QinQ IPv6 udp/161", "inet",
     ETH / QINQ / IPv6(src=INET6, dst=SUB6) / snmp(), "blocked"),
    ("QinQ IPv4 udp/161 from the NMS", "inet",
     ETH / QINQ / IP(src=NMS4, dst=SUB4) / snmp(), "exempt"),
    ("PPPoE IPv4 tcp/587", "inet",
     ETH / PPPOE / PPP4 / IP(src=INET4, dst=SUB4) / syn(587), "blocked"),
    ("PPPoE (PPP proto 1 byte) IPv6 tcp/2525", "inet",
     ETH / PPPOE / PPP(proto=0x57) / IPv6(src=INET6, dst=SUB6) / syn(2525), "blocked"),
    ("PPPoE IPv6 tcp/80", "inet",
     ETH / PPPOE / PPP6 / IPv6(src=INET6, dst=SUB6) / syn(80), "no_match"),
    ("out PPPoE IPv4 tcp/25 to the internet", "sub",
     ETH / PPPOE / PPP4 / IP(src=SUB4, dst=INET4) / syn(25), "blocked"),
    ("out PPPoE IPv6 tcp/25 to the relay", "sub",
     ETH / PPPOE / PPP6 / IPv6(src=SUB6, dst=RELAY6) / syn(25), "exempt"),
    ("out 802.1Q PPPoE IPv4 tcp/443", "sub",
     ETH / Dot1Q(vlan=100) / PPPOE / PPP4 / IP(src=SUB4, dst=INET4) / syn(443), "no_match"),
]


def packet_socket(netns, ifname):
    """An AF_PACKET socket bound to ifname in netns; this thread returns home."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((ifname, 0))
    finally:
        if libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(there)
        os.close(home)
    return s


def counters(lab_id):
    out = subprocess.run([LAB, "pg", lab_id, "-j", "stats"], check=True,
                         capture_output=True, text=True).stdout
    totals = json.loads(out)["totals"]
    return {r: totals[r] for r in JUDGED}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    lab_id = sys.argv[1]
    socks = {h: packet_socket(f"pgl{lab_id}-{h}", "eth0") for h in ("inet", "sub")}
    failures = 0
    print(f"  {'frame':<40} {'into':<5} {'bytes':>5}  {'expected':<9}"
          f" {'+blocked':>8} {'+no_match':>9} {'+exempt':>7}")
    for name, host, frame, want in FRAMES:
        raw = bytes(frame)
        before = counters(lab_id)
        for _ in range(COPIES):
            socks[host].send(raw)
        # veth hands frames to XDP in NAPI context: poll (bounded) for them.
        deadline = time.monotonic() + 3
        while True:
            after = counters(lab_id)
            delta = {r: after[r] - before[r] for r in JUDGED}
            if sum(delta.values()) >= COPIES or time.monotonic() > deadline:
                break
        ok = delta == {r: COPIES if r == want else 0 for r in JUDGED}
        failures += not ok
        print(f"  {name:<40} {'up0' if host == 'inet' else 'acc0':<5} {len(raw):>5}  {want:<9}"
              f" {delta['blocked']:>8} {delta['no_match']:>9} {delta['exempt']:>7}"
              f"  {'OK' if ok else 'FAIL'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
