"""The one rule for where a site's directories may be on a server.

The provisioning makes a site's root (`site_root`) and data directory
(`site_data_dir`), gives them to the site's users and sets their modes;
each deploy fills the root and prunes it. Neither may therefore be a system
directory (/etc, /usr/local/sbin, /var/lib/postgresql, /), another
account's (/root, /home/<someone else>) or another site's.

`site_dir_allowed(path, site_user)`: an absolute, normalised path of plain
names (letters, digits and `._+@-`; no spaces, shell characters, empty,
`.` or `..` parts, no trailing slash), strictly below one of the places
sites live: the site user's home (/home/<site_user>), /srv, /var/www or
/opt. An allow-rule: a place not listed is refused, whatever it is.

`site_dirs_overlap(path, other)`: whether `path` is `other`, lies inside it
or holds it.

`site_dirs_overlapping(path, dirs)`: the labels of those of `dirs`
([label, path] pairs, e.g. another site's root and data directory) that
`path` overlaps.
"""

import re

PLAIN_PATH = re.compile(r"(/(?!\.\.?(/|\Z))[A-Za-z0-9._+@-]+)+\Z")


def site_dir_bases(site_user):
    return [f"/home/{site_user}", "/srv", "/var/www", "/opt"]


def site_dir_allowed(path, site_user):
    path = str(path)
    return bool(PLAIN_PATH.match(path)) and any(path.startswith(base + "/") for base in site_dir_bases(site_user))


def site_dirs_overlap(path, other):
    path, other = str(path).rstrip("/") + "/", str(other).rstrip("/") + "/"
    return path.startswith(other) or other.startswith(path)


def site_dirs_overlapping(path, dirs):
    return [label for label, other in dirs if site_dirs_overlap(path, other)]


class FilterModule:
    def filters(self):
        return {"site_dir_allowed": site_dir_allowed, "site_dirs_overlap": site_dirs_overlap,
                "site_dirs_overlapping": site_dirs_overlapping}
