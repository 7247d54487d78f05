"""The dashboard: every business's books as web pages, read-only, beside the daemon.

`app.make_app` builds the Flask application over a folder of business configs (or one config);
`server.Dashboard` serves it with waitress, on 127.0.0.1 unless an access token is kept in the
keyring (`access`). The pages read each state database read-only through the same typed status
the CLI prints (`connector.overview.business_status`), the aging of `connector aging`, and the
plan `connector plan` makes when the ledger cannot be asked (`plan_view`).

It must never write a state database, never call a ledger or a tracker, never run script in
the browser (the Content-Security-Policy forbids it), and never show a secret: the only secret
it knows is its own access token, which it compares and never prints back.
"""

DEFAULT_HOST = "127.0.0.1"  # this machine only: reach it from elsewhere over an SSH tunnel
DEFAULT_PORT = 8080
