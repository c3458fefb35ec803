"""Entry point of the component provider: the Pulumi engine runs this folder as a plugin.

`python -m tgi_infra.provider --path` prints the folder (for `pulumi package add`);
`python -m tgi_infra.provider --schema` prints the generated schema.
"""

import json
import sys

from tgi_infra import __version__
from tgi_infra.provider import PACKAGE, PLUGIN_DIR, component_classes, generate_schema

if sys.argv[1:] == ["--path"]:
    print(PLUGIN_DIR)
elif sys.argv[1:] == ["--schema"]:
    print(json.dumps(generate_schema(__version__), indent=2, sort_keys=True))
else:
    from pulumi.provider.experimental import component_provider_host

    component_provider_host(component_classes(), name=PACKAGE, version=__version__)
