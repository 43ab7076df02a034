"""The one rule for the names a site goes by on a server.

A site's unit, socket, nginx file, certificate and lock are named after its
domain, which DNS allows up to 253 characters long, more than some of those
names may hold (a unix socket's path holds 107 bytes; systemd builds longer
names from a unit's). `site_short_name(limit)` keeps a domain of up to
`limit` characters as it is, and cuts a longer one short and makes it unique
with a hash: its first `limit - 20` characters, a dash and the first 12 hex
digits of its SHA-1 (`limit - 7` characters in all).

The tests import `short_name` from here, so they check the names the roles
make rather than a copy of the rule.
"""

import hashlib


def short_name(domain, limit):
    domain = str(domain)
    limit = int(limit)
    if len(domain) <= limit:
        return domain
    return f"{domain[:limit - 20]}-{hashlib.sha1(domain.encode()).hexdigest()[:12]}"


class FilterModule:
    def filters(self):
        return {"site_short_name": short_name}
