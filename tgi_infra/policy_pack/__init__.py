"""The tgi-infra CrossGuard policy pack, shipped inside the package.

    pulumi preview --policy-pack "$(python -m tgi_infra.policy_pack --path)"

`PACK_DIR` is the folder the engine starts (`PulumiPolicy.yaml`, `__main__.py`, and
`config/<stack>.json` for the repository's stacks); the policies are `tgi_infra.policy`.
"""

from __future__ import annotations

from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACK_DIR / "config"
