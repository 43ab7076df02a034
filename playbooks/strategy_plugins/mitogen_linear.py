# Mitogen's linear strategy under the name `mitogen_linear`, found through
# ansible.cfg's strategy_plugins, so ANSIBLE_STRATEGY=mitogen_linear is all an
# operator sets (requirements-mitogen.txt installs Mitogen). Loaded only when
# that strategy is chosen; the default stays Ansible's own `linear`.
#
# Mitogen takes over connections by their short names only (`ssh`, `docker`,
# `local`, ...), not by full names: inventory/local names the docker
# connection `docker`, which Ansible itself routes to community.docker.docker.
from __future__ import annotations

try:
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError as exc:  # pragma: no cover - an operator's set-up error
    from ansible.errors import AnsibleError

    raise AnsibleError(
        "ANSIBLE_STRATEGY=mitogen_linear needs Mitogen: scripts/install-controller --mitogen "
        "(or pip install -r requirements-mitogen.txt into the virtualenv that runs Ansible)"
    ) from exc

_Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):
    """Ansible's linear strategy, run over Mitogen's connections."""
