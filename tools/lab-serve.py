#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Real SMTP (aiosmtpd) and HTTP (http.server) peers for the portgate lab.

One process per lab host, dual-stack on every port ("::" with IPV6_V6ONLY
off), so one listener answers both the IPv4 and the IPv6 probes. Messages
are accepted and thrown away: the lab only proves that sessions get through.

    lab-serve.py --smtp 25,465,587,2525 --http 80
"""
import argparse
import asyncio
import http.server
import socket
import threading

from aiosmtpd.smtp import SMTP


class Discard:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK discarded by the portgate lab"


def dual_stack_socket(port, kind):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    return s


class DualStackHTTP(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"portgate lab: HTTP is open\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def ports(text):
    return [int(p) for p in text.split(",") if p]


async def main(args):
    loop = asyncio.get_running_loop()
    for port in args.smtp:
        sock = dual_stack_socket(port, socket.SOCK_STREAM)
        await loop.create_server(lambda: SMTP(Discard(), hostname="lab"), sock=sock)
    for port in args.http:
        srv = DualStackHTTP(("::", port), Hello)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smtp", type=ports, default=[])
    p.add_argument("--http", type=ports, default=[])
    asyncio.run(main(p.parse_args()))
