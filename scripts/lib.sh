# Shared helpers for the scripts in this folder. Source it; do not run it.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SUPERLISTS_VENV:-$REPO_ROOT/.venv}"
# The image every throwaway server starts from. Set TESTHOST_IMAGE to use a
# pulled one instead (e.g. a systemd-enabled Debian image on a public CI).
TESTHOST_IMAGE="${TESTHOST_IMAGE:-superlists-testhost:bookworm}"
export TESTHOST_IMAGE

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Put the toolchain first on PATH (after scripts/bootstrap has run).
use_venv() {
  [ -x "$VENV/bin/ansible-playbook" ] || die "no toolchain in $VENV: run scripts/bootstrap first"
  export PATH="$VENV/bin:$PATH"
  export ANSIBLE_CONFIG="$REPO_ROOT/ansible.cfg"
}
