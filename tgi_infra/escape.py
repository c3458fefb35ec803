"""Stack text carried into the languages the platform writes: PromQL, RE2 and Go templates.

Pure functions; the builders call them wherever a stack value meets one of these languages
(YAML, JSON and shell have their serializers: `yaml.safe_dump`, `json.dumps`, `shlex.join`).
What no escape can carry (control characters in single-line fields, NUL anywhere) is refused
by `tgi_infra.checks.text` before any builder runs.

- PromQL string literals follow Go's escaping (`\\\\`, `\\"`, `\\n`, `\\uXXXX`), and so do
  the string constants of Go templates: one quoting serves both.
- PromQL regex matchers (`=~`) are RE2, fully anchored; a literal is quoted the way Go's
  `regexp.QuoteMeta` does, then the regex is written as a PromQL string.
- Kubernetes expands ``$(VAR)`` in a container's command, args and env values, with the
  container's own env (the HF token among them), and reduces ``$$`` to ``$``
  (core/v1 Container.args, EnvVar.value): every ``$`` the platform writes there is doubled,
  so stack text such as a servedModelName ``m-$(HF_TOKEN)`` reaches the engine as written.
- Prometheus expands alert annotations with Go's text/template: only `{{` opens an action,
  so text without `{` is emitted as is; any other text is emitted as the template
  `{{ "<quoted>" }}`, which renders back exactly the original (a `{` at the end of the text
  cannot join the template's own `{{` either).
"""

from __future__ import annotations

from typing import Any

_GO_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
RE2_META = frozenset("\\.+*?()|[]{}^$")
"""The characters Go's regexp.QuoteMeta escapes (regexp/regexp.go, `special`)."""


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0


def go_quoted(text: str) -> str:
    """The body of a Go interpreted string literal (no quotes) that evaluates to `text`."""
    return "".join(
        _GO_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if _is_control(c) else c) for c in text
    )


def promql_string(text: str) -> str:
    """A PromQL double-quoted string literal, quotes included, whose value is `text`."""
    return f'"{go_quoted(text)}"'


def re2_literal(text: str) -> str:
    """An RE2 regex that matches exactly `text` (Go's regexp.QuoteMeta)."""
    return "".join(f"\\{c}" if c in RE2_META else c for c in text)


def go_template_text(text: str) -> str:
    """Template text that Go's text/template (Prometheus' annotations) renders as `text`."""
    if "{" not in text:
        return text
    return '{{ "' + go_quoted(text) + '" }}'


def kube_literal(text: str) -> str:
    """Text that kubelet's ``$(VAR)`` expansion passes through unchanged (module doc)."""
    return text.replace("$", "$$")


def kube_literal_container(container: dict[str, Any]) -> dict[str, Any]:
    """A container with its command, args and env values escaped by `kube_literal`."""
    out = dict(container)
    for key in ("command", "args"):
        if key in out:
            out[key] = [kube_literal(str(item)) for item in out[key]]
    if "env" in out:
        out["env"] = kube_literal_env(out["env"])
    return out


def kube_literal_env(env: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Env vars with their literal values escaped by `kube_literal` (valueFrom untouched)."""
    return [{**var, "value": kube_literal(var["value"])} if "value" in var else var for var in env]
