"""`snaptrail.yml`: the one file that makes the build an organisation's own.

It holds the allowlists the Sigma filters in `sigma/filters/` refer to as placeholders
(`%org_account_ids%`), and the SIEM settings the packages are built with. Unknown keys are
errors, so a typo never silently turns an allowlist off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path("snaptrail.yml")

ALLOWLISTS = {
    # AWS's own services acting in your account: shipped filled in. (Calls an AWS service makes
    # itself, with userIdentity.invokedBy *.amazonaws.com, are excluded by the rules.)
    "aws_service_role_arns": "ARN patterns of roles AWS services assume in your account",
    # Your organisation: shipped empty.
    "org_account_ids": "your AWS account ids (shares among them are not alerts)",
    "trusted_partner_account_ids": "partner accounts you knowingly share with",
    "trusted_principal_arns": "ARN patterns of your own backup, DR and scanner roles",
    "trusted_backup_vault_arns": "ARN patterns of backup vaults you copy to",
}

SECTIONS = {"allowlists", "splunk", "elastic", "sentinel"}


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    path: Path | None
    allowlists: dict[str, tuple[str, ...]]
    siem: dict[str, dict[str, Any]] = field(default_factory=dict)

    def placeholders(self) -> dict[str, list[str]]:
        """Values for the filters' %placeholders%; `trusted_account_ids` joins both account lists."""
        values = {name: list(entries) for name, entries in self.allowlists.items()}
        values["trusted_account_ids"] = sorted(
            set(self.allowlists["org_account_ids"]) | set(self.allowlists["trusted_partner_account_ids"])
        )
        return values

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.siem.get(name, {}))

    def describe(self) -> dict[str, Any]:
        """What shaped the build, for artifact metadata."""
        return {
            "config_file": self.path.name
            if self.path
            else None,  # a name, not a path: builds must not depend on where the checkout lives
            "allowlists": {k: list(v) for k, v in sorted(self.allowlists.items())},
            **{k: self.siem[k] for k in sorted(self.siem)},
        }


def load_config(path: Path | None = None) -> Config:
    """Read the config; without a file every organisation list is empty and AWS defaults are off."""
    if path is None:
        path = DEFAULT_PATH if DEFAULT_PATH.is_file() else None
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"{path}: cannot read configuration ({error})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: configuration must be a YAML mapping")
    unknown = set(data) - SECTIONS
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; expected {sorted(SECTIONS)}")
    lists = data.get("allowlists") or {}
    unknown = set(lists) - set(ALLOWLISTS)
    if unknown:
        raise ConfigError(f"{path}: unknown allowlist(s) {sorted(unknown)}; known: {sorted(ALLOWLISTS)}")
    allowlists: dict[str, tuple[str, ...]] = {}
    for name in ALLOWLISTS:
        entries = lists.get(name) or []
        if not isinstance(entries, list) or not all(isinstance(e, (str, int)) for e in entries):
            raise ConfigError(f"{path}: allowlists.{name} must be a list of strings")
        allowlists[name] = tuple(str(e) for e in entries)
    siem = {name: dict(data.get(name) or {}) for name in sorted(SECTIONS - {"allowlists"}) if data.get(name)}
    return Config(path, allowlists, siem)
