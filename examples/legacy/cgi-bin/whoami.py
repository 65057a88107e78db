#!/usr/bin/env python3
"""A legacy CGI script: says who the login layer found, and where it is mounted."""
import json
import os
import sys

body = json.dumps({
    "remote_user": os.environ.get("REMOTE_USER"),
    "auth_type": os.environ.get("AUTH_TYPE"),
    "script_name": os.environ.get("SCRIPT_NAME"),
    "path_info": os.environ.get("PATH_INFO"),
    "query_string": os.environ.get("QUERY_STRING"),
})
sys.stdout.write("Content-Type: application/json\r\n\r\n" + body + "\n")
