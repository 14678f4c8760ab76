"""Login CSRF over plain HTTP (issue 24, finding 5): the sign-in takes JSON only, and never from
a page of another origin — what a browser's cross-site form sends is refused and sets no cookie.
(tests/web/test_login_csrf.py makes the same attack with Chromium.)"""

from __future__ import annotations

import json

from tests.server.conftest import Tenant


def test_a_cross_site_form_cannot_sign_the_browser_in(tenant: Tenant) -> None:
    base = str(tenant.http.base_url).rstrip("/")
    form = f'{{"token":"{tenant.token}","x":"="}}'  # what <form enctype="text/plain"> can send
    cases = {
        "text/plain from another site": (
            {"Content-Type": "text/plain", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
            form,
            403,
        ),
        "text/plain with no origin at all": ({"Content-Type": "text/plain"}, form, 415),
        "a form from the same origin, not JSON": (
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": base},
            f"token={tenant.token}",
            415,
        ),
        "JSON from another origin": ({"Content-Type": "application/json", "Origin": "http://evil.example"}, form, 403),
        "JSON from a sibling site": ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, form, 403),
    }
    for name, (headers, body, status) in cases.items():
        response = tenant.http.post("/dashboard/session", content=body, headers=headers)
        assert response.status_code == status, (name, response.text)
        assert "set-cookie" not in response.headers, name
        assert response.json()["success"] is False, name
    same_origin = {"Content-Type": "application/json", "Origin": base, "Sec-Fetch-Site": "same-origin"}
    signed_in = tenant.http.post("/dashboard/session", content=json.dumps({"token": tenant.token}), headers=same_origin)
    assert signed_in.status_code == 200 and "enlarger_session=" in signed_in.headers["set-cookie"]
    script = tenant.http.post("/dashboard/session", json={"token": tenant.token})  # no browser: no Origin
    assert script.status_code == 200
