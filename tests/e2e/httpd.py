#!/usr/bin/python3
"""A tiny HTTP/1.1 file server for the tests under Wine (BITS downloads).

    httpd.py DIR [SECONDS]

Serves the files of DIR on 127.0.0.1 at an ephemeral port and prints the
port alone on its first stdout line. GET and HEAD, with Content-Length (BITS
needs sizes) and single byte ranges (206), 404 for a missing file. Exits when
its stdin closes (the test that started it is gone) or after SECONDS
(default 300), so it can never outlive a test. Every request is logged to
stderr.
"""
import http.server
import os
import sys
import threading
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "."

    def log_message(self, fmt, *args):
        sys.stderr.write("httpd: %s\n" % (fmt % args))

    def _path(self):
        rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        full = os.path.realpath(os.path.join(self.root, rel))
        if os.path.commonpath([full, self.root]) != self.root or not os.path.isfile(full):
            return None
        return full

    def _range(self, size):
        """(start, end) inclusive for a valid single 'bytes=' range, else None."""
        spec = self.headers.get("Range", "")
        if not spec.startswith("bytes=") or "," in spec:
            return None
        first, _, last = spec[6:].partition("-")
        try:
            if first == "":
                n = int(last)
                return (max(size - n, 0), size - 1) if n > 0 and size > 0 else None
            start = int(first)
            end = int(last) if last else size - 1
        except ValueError:
            return None
        if start > end or start >= size:
            return None
        return start, min(end, size - 1)

    def _send(self, body_wanted):
        full = self._path()
        if full is None:
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body_wanted:
                self.wfile.write(body)
            return
        with open(full, "rb") as f:
            data = f.read()
        rng = self._range(len(data))
        if rng:
            start, end = rng
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(data)))
            data = data[start:end + 1]
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", self.date_time_string(int(os.path.getmtime(full))))
        self.end_headers()
        if body_wanted:
            self.wfile.write(data)

    def do_GET(self):
        self._send(True)

    def do_HEAD(self):
        self._send(False)


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write("usage: httpd.py DIR [SECONDS]\n")
        return 2
    Handler.root = os.path.realpath(sys.argv[1])
    limit = float(sys.argv[2]) if len(sys.argv) == 3 else 300.0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    done = threading.Event()

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    if not done.wait(limit):
        sys.stderr.write("httpd: time limit of %g s reached; exiting\n" % limit)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
