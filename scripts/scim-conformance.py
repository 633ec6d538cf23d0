#!/usr/bin/env python3
"""Confirms that a running SCIM server is a fair target for entra-sync's end-to-end tests.

Runs scim2-tester's checks (discovery and User/Group create, read, update, delete) against the
server over real HTTP, and exits non-zero when one of them fails.

usage: scim-conformance.py BASE_URL [BEARER_TOKEN]      e.g. http://127.0.0.1:8080/v2 secret

scim2-tester drives a scim2-client; the client's WSGI engine needs only the standard library, so
a tiny WSGI application forwards each of its requests to the server with urllib.
"""
import sys
import urllib.error
import urllib.request

from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server


def forwarding_app(base_url, token):
    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        url = base_url + environ["PATH_INFO"].removeprefix("/v2")
        if environ.get("QUERY_STRING"):
            url += "?" + environ["QUERY_STRING"]
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        if token:
            headers["Authorization"] = "Bearer " + token
        request = urllib.request.Request(url, data=body, method=environ["REQUEST_METHOD"], headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as error:
            response = error
        payload = response.read()
        start_response(f"{response.status} {response.reason}",
                       [(k, v) for k, v in response.headers.items() if k.lower() not in ("connection", "transfer-encoding")])
        return [payload]

    return app


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    base_url = sys.argv[1].rstrip("/")
    token = sys.argv[2] if len(sys.argv) > 2 else None
    client = WSGISCIMClient(forwarding_app(base_url, token), base_url="http://localhost/v2")
    results = check_server(client, resource_types=["User", "Group"])
    failed = [r for r in results if r.status == Status.ERROR]
    for r in results:
        print(f"{r.status.name:8} {r.title}{': ' + r.reason if r.status == Status.ERROR and r.reason else ''}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
