"""The Python side of a shared login: a WSGI app that trusts the auth_tkt
ticket towerkit's login layer issued, with Pyramid's ticket reader.

    python3 ticket_app.py 9000
"""
import sys
from http.cookies import SimpleCookie
from wsgiref.simple_server import WSGIRequestHandler, make_server

from pyramid.authentication import BadTicket, parse_ticket

SECRET = "change me: a long random string shared with the Python app"


def app(environ, start_response):
    cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    user = None
    if "auth_tkt" in cookies:
        try:
            _, user, _, _ = parse_ticket(SECRET, cookies["auth_tkt"].value, "0.0.0.0", "sha512")
        except BadTicket:
            user = None
    if user is None:
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"no valid ticket\n"]
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    prefix = environ.get("HTTP_X_FORWARDED_PREFIX", "")
    return [f"reports for {user}, mounted at {prefix}\n".encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    with make_server("127.0.0.1", port, app, handler_class=QuietHandler) as server:
        print(f"listening on http://127.0.0.1:{port}", flush=True)
        server.serve_forever()
