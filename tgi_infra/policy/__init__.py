"""CrossGuard policies for LLM serving, importable and testable without the engine.

- `k8s`: reading Kubernetes objects (plain dicts or the policy SDK's proxies).
- `rules` / `stack_rules`: the policies as pure functions.
- `catalog`: names, descriptions, config schemas, default levels per environment.
- `pack`: `build_policies(settings)` and `serve()` for `tgi_infra/policy_pack/__main__.py`.

The `check` command, the engine harness and SARIF are in `tgi_infra.checkrun`; nothing
here imports them, the offline runner or the program.
"""
