"""`tgi-infra check`: the orchestration around the pure policy rules (`tgi_infra.policy`).

- `harness`: start the policy pack like the Pulumi engine and call it over gRPC.
- `check`: validate, plan offline, check schemas, run the pack; text and JSON output.
- `sarif`: the same findings as SARIF, located on the stack file's lines.
"""
