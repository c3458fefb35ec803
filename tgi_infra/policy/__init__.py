"""CrossGuard policies for LLM serving, importable and testable without the engine.

- `k8s`: reading Kubernetes objects (plain dicts or the policy SDK's proxies).
- `rules` / `stack_rules`: the policies as pure functions.
- `catalog`: names, descriptions, config schemas, default levels per environment.
- `pack`: `build_policies(settings)` and `serve()` for `policy/__main__.py`.
- `harness`: start the pack like the Pulumi engine and call it over gRPC.
- `check` / `sarif`: the `tgi-infra check` command and its outputs.
"""
