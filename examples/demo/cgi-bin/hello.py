#!/usr/bin/env python3
"""A CGI script, run by towerkit's gateway for each request to /cgi-bin/hello.py."""
import html
import os

user = os.environ.get("REMOTE_USER") or "stranger"
print("Content-Type: text/html; charset=utf-8")
print()
print("<!DOCTYPE html><html><head><meta charset='utf-8'><title>CGI</title>"
      "<link rel='stylesheet' href='/style.css'></head><body>")
print(f"<h1>Hello, {html.escape(user)}, from a CGI script</h1>")
print("<p>SCRIPT_NAME is <code>%s</code>, PATH_INFO is <code>%s</code>.</p>"
      % (html.escape(os.environ.get("SCRIPT_NAME", "")), html.escape(os.environ.get("PATH_INFO", ""))))
print("<p><a href='/'>Back home</a></p></body></html>")
