"""The demo stack in the original: Python Paste's own middleware around a
hello-world, as a Paste user stacked it, served by gunicorn. The peer of
towerkit's full stack in bench/hello.sh.

    gunicorn -w 1 -k gthread --threads 8 -b 127.0.0.1:8000 app:app
"""
from paste.auth.basic import AuthBasicHandler
from paste.deploy.config import PrefixMiddleware
from paste.exceptions.errormiddleware import ErrorMiddleware
from paste.gzipper import middleware as gzipper
from paste.recursive import RecursiveMiddleware
from paste.session import SessionMiddleware
from paste.urlmap import URLMap


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"hello\n"]


def private(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"secret\n"]


def check(environ, user, password):
    return user == "demo" and password == "demo"


site = URLMap()
site["/"] = hello
site["/private"] = AuthBasicHandler(private, "demo", check)

# Outermost last, as towerkit's demo pipeline: proxy fix, errors, gzip,
# sessions, (login on /private only), recursion, the URL map.
app = RecursiveMiddleware(site)
app = SessionMiddleware(app)
app = gzipper(app)
app = ErrorMiddleware(app, debug=False)
app = PrefixMiddleware(app)
