"""A counting HTTP/1.1 reverse proxy for the benchmarks: forwards every request to UPSTREAM and
appends `METHOD PATH` (no query, no headers, no bodies) to LOG. Prints its base URL once it
listens. Usage: python3 counting_proxy.py UPSTREAM LOG"""

import http.client
import http.server
import sys
import threading
import urllib.parse

UPSTREAM = urllib.parse.urlparse(sys.argv[1])
LOG = open(sys.argv[2], "a", buffering=1)
LOCK = threading.Lock()
LOCAL = threading.local()


def upstream():
    if getattr(LOCAL, "conn", None) is None:
        LOCAL.conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
    return LOCAL.conn


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        with LOCK:
            LOG.write("%s %s\n" % (self.command, self.path.split("?")[0]))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        for attempt in range(2):
            conn = upstream()
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                LOCAL.conn = None
                if attempt:
                    raise
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_LIST = forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("http://127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
