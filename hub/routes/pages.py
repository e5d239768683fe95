"""The server-rendered pages of the login: plain HTML, inline style, no script, no CDN."""

from __future__ import annotations

from html import escape

__all__ = ["login_page"]

_STYLE = """body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.45rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1.2rem}.error{color:#a00}.hint{color:#666;font-size:.9rem}"""


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>")


def _csrf(token: str) -> str:
    return f'<input type="hidden" name="_csrf_token" value="{escape(token)}">'


def login_page(csrf_token: str, *, error: str = "", name: str = "", next_path: str = "/") -> str:
    """The login form: account and password, or an API token in the password field."""
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _page("Sign in · hub", f"""<h1>Sign in</h1>{message}
<form method="post" action="/login">{_csrf(csrf_token)}
<input type="hidden" name="next" value="{escape(next_path)}">
<label for="name">Account</label><input id="name" name="name" autocomplete="username" value="{escape(name)}">
<label for="password">Password or API token</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
<p class="hint">With an API token, leave the account empty.</p>""")
