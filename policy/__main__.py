"""The policy pack's entry point: the engine runs it with `python -m pulumi.policy`.

Building the PolicyPack starts the analyzer's gRPC server, prints its port on stdout and
blocks; nothing else may print to stdout. The policies are in `tgi_infra.policy`.
"""

from tgi_infra.policy.pack import serve

serve()
