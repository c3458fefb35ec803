"""The policy pack's entry point: the engine runs it with `python -m pulumi.policy`.

Building the PolicyPack starts the analyzer's gRPC server, prints its port on stdout and
blocks; nothing else may print to stdout. The policies are in `tgi_infra.policy`.
`python -m tgi_infra.policy_pack --path` prints the pack's folder instead (for
`pulumi preview --policy-pack`).
"""

import sys

if sys.argv[1:] == ["--path"]:
    from tgi_infra.policy_pack import PACK_DIR

    print(PACK_DIR)
else:
    from tgi_infra.policy.pack import serve

    serve()
