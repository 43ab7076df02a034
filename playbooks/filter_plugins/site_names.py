"""The one rule for the names a site goes by on a server.

A site's unit, socket, nginx file, certificate and lock are named after its
domain, which DNS allows up to 253 characters long, more than some of those
names may hold (a unix socket's path holds 107 bytes; systemd builds longer
names from a unit's). `site_short_name(limit)` keeps a domain of up to
`limit` characters as it is, and cuts a longer one short and makes it unique
with a hash: its first `limit - 20` characters, a dash and the first 12 hex
digits of its SHA-1 (`limit - 7` characters in all).

`site_database_name` is the name of a site's PostgreSQL database and role:
its domain with dots and dashes as underscores, cut to PostgreSQL's 63
characters the same way. The web servers and the database server compute it
alike, each from the site's domain.

`web_hosts` picks the hosts that serve a site from the inventory's groups:
those in group `web`, and every host in neither `db` nor `lb` (so an
inventory without those groups, one host per site, is all web hosts).
`web_hosts(target)` keeps those of them in `target`: group or host names,
separated by commas (deploy_target, for an inventory that holds several
environments).

`site_database_sharers(host, hosts, hostvars)` names the hosts of `hosts`
that serve another site (another site_domain) than `host` and whose
database would be `host`'s: the same database_name in the same PostgreSQL,
that of their database_server, or without one (database_engine
postgresql) that of the server they run on (the same ansible_host and
ansible_port). Two sites would read and write one database.

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


def database_name(domain):
    return short_name(str(domain).replace(".", "_").replace("-", "_"), 63)


def web_hosts(groups, target="all"):
    others = set(groups.get("db", [])) | set(groups.get("lb", []))
    web = groups.get("web", [])
    wanted = set()
    for name in str(target).split(","):
        name = name.strip()
        wanted.update(groups.get(name, [name]))
    return [host for host in groups.get("all", []) if (host in web or host not in others) and host in wanted]


def database_place(name, settings):
    """Which PostgreSQL holds a web host's database: None for SQLite."""
    server = settings.get("database_server") or ""
    if server:
        return f"database server {server}"
    if (settings.get("database_engine") or "sqlite") != "postgresql":
        return None
    return f"server {settings.get('ansible_host') or name}:{settings.get('ansible_port') or 22}"


def database_sharers(host, hosts, hostvars):
    mine = hostvars[host]
    place = database_place(host, mine)
    if place is None:
        return []
    return [name for name in hosts
            if hostvars[name].get("site_domain") != mine.get("site_domain")
            and hostvars[name].get("database_name") == mine.get("database_name")
            and database_place(name, hostvars[name]) == place]


class FilterModule:
    def filters(self):
        return {"site_short_name": short_name, "site_database_name": database_name, "web_hosts": web_hosts,
                "site_database_sharers": database_sharers}
