"""Run the policy pack the way the Pulumi engine does, without the CLI.

The engine (`sdk/go/common/resource/plugin/analyzer_plugin.go`, `NewPolicyAnalyzer`) starts
`<virtualenv>/bin/python -u -m pulumi.policy <engine address> .` in the pack's folder, with
the stack's config in `PULUMI_CONFIG` and `PULUMI_PROJECT/STACK/DRY_RUN/ORGANIZATION`, reads
the port from the first line of stdout, and dials it. Then: `Handshake` (Python packs answer
UNIMPLEMENTED), `ConfigureStack`, `GetAnalyzerInfo`, `Configure` with the pack config
reconciled the engine's way (schema defaults, each policy's level, then the
`--policy-pack-config` file, validated against each policy's schema), `Remediate` and
`Analyze` per resource, and `AnalyzeStack` with every resource at the end.

`PolicyPackProcess` does exactly that with Pulumi's own protobufs. The process is always
killed on exit; its stderr is attached to every error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto import analyzer_pb2_grpc as pb_grpc

from tgi_infra.fileio import read_regular_text
from tgi_infra.policy.pack import CONFIG_FILE_ENV
from tgi_infra.policy_pack import PACK_DIR

POLICY_DIR = PACK_DIR
LEVELS = {
    pb.ADVISORY: "advisory",
    pb.MANDATORY: "mandatory",
    pb.REMEDIATE: "remediate",
    pb.DISABLED: "disabled",
}
LEVEL_VALUES = {v: k for k, v in LEVELS.items()}
SEVERITIES = {
    pb.POLICY_SEVERITY_UNSPECIFIED: "",
    pb.POLICY_SEVERITY_LOW: "low",
    pb.POLICY_SEVERITY_MEDIUM: "medium",
    pb.POLICY_SEVERITY_HIGH: "high",
    pb.POLICY_SEVERITY_CRITICAL: "critical",
}
ENGINE_ADDRESS = "127.0.0.1:0"  # Python packs never dial the engine back.
MAX_MESSAGE = 400 * 1024 * 1024  # as the engine and pulumi_policy set it
IN_FLIGHT = 8
"""Resources whose Remediate/Analyze calls may be outstanding at once (the pack's server
has 4 worker threads: pulumi_policy/policy.py)."""


class HarnessError(RuntimeError):
    """The pack failed to start, answer, or accept its config (stderr attached)."""


class Resource(Protocol):
    """What the harness needs of a resource: `offline.plan.PlannedResource` fits."""

    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Diagnostic:
    """One policy violation, as the engine would print it."""

    policy: str
    message: str
    enforcement: str
    urn: str
    description: str = ""
    severity: str = ""
    pack: str = ""
    stage: str = "analyze"  # or "stack"

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"


@dataclass
class AnalysisResult:
    """Everything one run of the pack produced."""

    pack: str
    version: str
    policies: dict[str, dict[str, Any]]
    config: dict[str, dict[str, Any]]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)

    def mandatory(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.mandatory]

    def by_policy(self) -> dict[str, list[Diagnostic]]:
        out: dict[str, list[Diagnostic]] = {}
        for d in sorted(self.diagnostics, key=lambda d: (d.policy, d.urn)):
            out.setdefault(d.policy, []).append(d)
        return out

    def policy_names(self) -> set[str]:
        return {d.policy for d in self.diagnostics}


def pack_project(pack_dir: Path) -> dict[str, Any]:
    """PulumiPolicy.yaml as a mapping (empty when missing or unreadable)."""
    try:
        project = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return project if isinstance(project, dict) else {}


def pack_python(pack_dir: Path) -> str:
    """The interpreter the engine would use: PulumiPolicy.yaml's virtualenv, else ours."""
    runtime = pack_project(pack_dir).get("runtime")
    venv = runtime.get("options", {}).get("virtualenv") if isinstance(runtime, dict) else None
    if venv:
        try:
            python = (pack_dir / venv).resolve() / "bin" / "python"
            if python.exists():
                return str(python)
        except (OSError, RuntimeError):  # a broken or looping virtualenv link: use ours
            pass
    return sys.executable


def engine_config(stack_config: Mapping[str, Any]) -> dict[str, str]:
    """Stack config as the engine passes it in PULUMI_CONFIG: strings, objects as JSON.

    Secure (encrypted) values are left out: the harness never decrypts anything.
    """
    out: dict[str, str] = {}
    for key, value in stack_config.items():
        if isinstance(value, Mapping) and "secure" in value:
            continue
        out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def load_pack_config(path: Path | None) -> dict[str, dict[str, Any]]:
    """A `--policy-pack-config` file, parsed as the engine does (`parsePolicyPackConfig`)."""
    if path is None:
        return {}
    text = read_regular_text(path)
    if not text.strip():
        return {}
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise HarnessError(f"{path}: a policy pack config is a JSON object")
    out: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            entry: dict[str, Any] = {"enforcementLevel": value}
        elif isinstance(value, dict):
            entry = dict(value)
        else:
            raise HarnessError(f"{path}: {name!r} must be a string or an object")
        level = entry.get("enforcementLevel")
        if level is not None and level not in LEVEL_VALUES:
            raise HarnessError(f"{path}: {name!r}: {level!r} is not a valid enforcement level")
        out[name] = entry
    return out


def reconcile_config(
    policies: Mapping[str, Mapping[str, Any]], given: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The engine's `ReconcilePolicyPackConfig`: defaults, then `all`, then each policy.

    Returns `{policy: {"enforcementLevel": ..., **properties}}`; raises HarnessError with
    every schema error, as the engine refuses to run the preview. One deliberate difference:
    a name the pack lacks is an error here (the engine ignores it, so a typo there silently
    keeps the default).
    """
    result: dict[str, dict[str, Any]] = {}
    for name, info in policies.items():
        props = {
            k: v["default"]
            for k, v in info["schema"].get("properties", {}).items()
            if isinstance(v, Mapping) and "default" in v
        }
        result[name] = {"enforcementLevel": info["enforcementLevel"], **props}
    everyone = given.get("all", {}).get("enforcementLevel")
    if everyone:
        for entry in result.values():
            entry["enforcementLevel"] = everyone
    for name, entry in given.items():
        if name == "all":
            continue
        if name not in result:
            raise HarnessError(f"policy pack config names {name!r}, which the pack lacks")
        result[name].update(entry)
    errors = []
    for name, entry in result.items():
        schema = policies[name]["schema"]
        if not schema.get("properties"):
            continue
        props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        full = {"type": "object", **schema}
        validator = jsonschema.Draft7Validator(full)
        errors += [f"{name}: {e.message}" for e in validator.iter_errors(props)]
    if errors:
        raise HarnessError("policy pack config is invalid: " + "; ".join(errors))
    return result


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(dict(value))
    return out


class PolicyPackProcess:
    """The pack as a child process plus a gRPC client, used like the engine uses it.

    >>> with PolicyPackProcess(stack="prod", stack_config=cfg) as pack:
    ...     result = pack.analyze(plan.resources)
    """

    def __init__(
        self,
        pack_dir: Path = POLICY_DIR,
        *,
        stack: str = "dev",
        project: str = "tgi-infra",
        organization: str = "organization",
        stack_config: Mapping[str, Any] | None = None,
        python: str | None = None,
        start_timeout: float = 60.0,
        call_timeout: float = 60.0,
    ) -> None:
        self.pack_dir = pack_dir.resolve()
        self.stack, self.project, self.organization = stack, project, organization
        self.config = engine_config(stack_config or {})
        self.python = python or pack_python(self.pack_dir)
        self.start_timeout, self.call_timeout = start_timeout, call_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: pb_grpc.AnalyzerStub | None = None
        self._config_file: IO[str] | None = None

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env.update(
            {
                "PULUMI_PROJECT": self.project,
                "PULUMI_STACK": self.stack,
                "PULUMI_ORGANIZATION": self.organization,
                "PULUMI_DRY_RUN": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.config:
            # In a file, not the environment: a 200-tier stack's config is larger than one
            # environment variable may be (Linux: 128 KiB, "Argument list too long").
            self._config_file = tempfile.NamedTemporaryFile(  # noqa: SIM115  # close()
                "w", suffix=".json", prefix="tgi-infra-config-", encoding="utf-8"
            )
            json.dump(self.config, self._config_file)
            self._config_file.flush()
            env[CONFIG_FILE_ENV] = self._config_file.name
        return env

    def start(self) -> None:
        """Spawn the pack, read its port, dial it and handshake (as `newPlugin` does)."""
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise HarnessError(f"no PulumiPolicy.yaml in {self.pack_dir}")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  # closed by close()
        self._proc = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."],
            cwd=self.pack_dir,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        try:
            self.port = self._read_port()
            self._channel = grpc.insecure_channel(
                f"127.0.0.1:{self.port}",
                options=[
                    ("grpc.max_receive_message_length", MAX_MESSAGE),
                    ("grpc.max_send_message_length", MAX_MESSAGE),
                ],
            )
            grpc.channel_ready_future(self._channel).result(timeout=self.start_timeout)
            self._stub = pb_grpc.AnalyzerStub(self._channel)
            self._handshake()
        except BaseException:
            self.close()
            raise

    def _read_port(self) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.start_timeout)
        if not line:
            raise HarnessError(
                f"the pack printed no port within {self.start_timeout:.0f}s" + self._tail()
            )
        text = line[0].decode(errors="replace").strip()
        if not text.isdigit():
            code = self._proc.poll()
            why = f"exited with {code}" if code is not None else f"printed {text!r}"
            raise HarnessError(f"the pack {why} instead of its port" + self._tail())
        # Keep draining stdout so a chatty policy can never block on a full pipe.
        threading.Thread(target=stdout.read, daemon=True).start()
        return int(text)

    def _tail(self, limit: int = 4000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return f"\n--- pack stderr ---\n{text[-limit:]}" if text else " (no stderr)"

    def stderr(self) -> str:
        return self._tail().removeprefix("\n--- pack stderr ---\n")

    def close(self) -> None:
        """Close the channel and end the process (terminate, then kill)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=5)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._config_file is not None:
            self._config_file.close()
            self._config_file = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- RPCs --------------------------------------------------------------------------
    def _call(self, method: str, request: Any) -> Any:
        if self._stub is None:
            raise HarnessError("the pack is not running")
        try:
            return getattr(self._stub, method)(request, timeout=self.call_timeout)
        except grpc.RpcError as err:
            raise HarnessError(
                f"{method} failed: {err.code().name}: {err.details()}" + self._tail()
            ) from None

    def _start(self, method: str, request: Any) -> Any:
        """Send one call without waiting: a future whose `result()` is the response."""
        if self._stub is None:
            raise HarnessError("the pack is not running")
        return getattr(self._stub, method).future(request, timeout=self.call_timeout)

    def _wait(self, method: str, future: Any) -> Any:
        try:
            return future.result()
        except grpc.RpcError as err:
            raise HarnessError(
                f"{method} failed: {err.code().name}: {err.details()}" + self._tail()
            ) from None

    def _finish(self, result: AnalysisResult, urn: str, remediate: Any, analyze: Any) -> None:
        self._wait("Remediate", remediate)
        self._collect(result, self._wait("Analyze", analyze), "analyze", urn)

    def _handshake(self) -> None:
        request = pb.AnalyzerHandshakeRequest(
            engine_address=ENGINE_ADDRESS,
            root_directory=str(self.pack_dir),
            program_directory=str(self.pack_dir),
        )
        assert self._stub is not None
        try:
            self._stub.Handshake(request, timeout=self.call_timeout)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:  # the engine falls back too
                raise HarnessError(f"Handshake failed: {err.details()}" + self._tail()) from None

    def configure_stack(self) -> None:
        request = pb.AnalyzerStackConfigureRequest(
            stack=self.stack,
            project=self.project,
            organization=self.organization,
            dry_run=True,
            config=dict(self.config),
        )
        assert self._stub is not None
        try:
            self._stub.ConfigureStack(request, timeout=self.call_timeout)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise HarnessError(
                    f"ConfigureStack failed: {err.details()}" + self._tail()
                ) from None

    def info(self) -> tuple[pb.AnalyzerInfo, dict[str, dict[str, Any]]]:
        """GetAnalyzerInfo, and per policy its default level, schema, description, type."""
        info = self._call("GetAnalyzerInfo", empty_pb2.Empty())
        policies = {
            p.name: {
                "description": p.description,
                "enforcementLevel": LEVELS[p.enforcementLevel],
                "schema": json_format.MessageToDict(p.configSchema)
                if p.HasField("configSchema")
                else {},
                "type": "stack" if p.policy_type == pb.POLICY_TYPE_STACK else "resource",
                "severity": SEVERITIES.get(p.severity, ""),
            }
            for p in info.policies
        }
        return info, policies

    def configure(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        request = pb.ConfigureAnalyzerRequest()
        for name, entry in config.items():
            props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            request.policyConfig[name].CopyFrom(
                pb.PolicyConfig(
                    enforcementLevel=LEVEL_VALUES[entry["enforcementLevel"]],
                    properties=_struct(props),
                )
            )
        self._call("Configure", request)

    def analyze(
        self,
        resources: Sequence[Resource],
        pack_config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> AnalysisResult:
        """One preview's worth of analysis over `resources` (e.g. `OfflinePlan.resources`)."""
        self.configure_stack()
        info, policies = self.info()
        config = reconcile_config(policies, pack_config or {})
        self.configure(config)
        # As the engine does, PulumiPolicy.yaml's version wins over the pack's answer.
        version = str(pack_project(self.pack_dir).get("version") or info.version)
        result = AnalysisResult(info.name, version, policies, config)
        # Each resource's properties are converted once, into the AnalyzeStack request;
        # the per-resource requests copy them from there one at a time.
        stack = pb.AnalyzeStackRequest(
            resources=[
                pb.AnalyzerResource(
                    urn=r.urn,
                    type=r.type,
                    name=r.name,
                    properties=_struct(r.inputs),
                    options=pb.AnalyzerResourceOptions(parent=r.parent or ""),
                    parent=r.parent or "",
                    dependencies=list(getattr(r, "dependencies", ()) or ()),
                )
                for r in resources
            ]
        )
        # Remediate and Analyze of every resource, up to IN_FLIGHT at once (the pack serves
        # them from a thread pool; serial round trips left it idle between calls), read in
        # order so the diagnostics come out as a serial run gives them.
        pending: deque[tuple[str, Any, Any]] = deque()
        for r in stack.resources:
            request = pb.AnalyzeRequest(
                urn=r.urn, type=r.type, name=r.name, properties=r.properties, options=r.options
            )
            remediate = self._start("Remediate", request)
            pending.append((r.urn, remediate, self._start("Analyze", request)))
            if len(pending) >= IN_FLIGHT:
                self._finish(result, *pending.popleft())
        while pending:
            self._finish(result, *pending.popleft())
        self._collect(result, self._call("AnalyzeStack", stack), "stack")
        return result

    @staticmethod
    def _collect(
        result: AnalysisResult, response: pb.AnalyzeResponse, stage: str, urn: str = ""
    ) -> None:
        """Diagnostics of one response; a resource's own URN where the pack left it out."""
        for d in response.diagnostics:
            message = d.message
            if d.description and message.startswith(d.description + "\n"):
                message = message[len(d.description) + 1 :]
            result.diagnostics.append(
                Diagnostic(
                    policy=d.policyName,
                    message=message,
                    enforcement=LEVELS.get(d.enforcementLevel, "advisory"),
                    urn=d.urn or urn,
                    description=d.description,
                    severity=SEVERITIES.get(d.severity, ""),
                    pack=d.policyPackName,
                    stage=stage,
                )
            )
        result.not_applicable += [(n.policy_name, n.reason) for n in response.not_applicable]


def analyze_plan(
    resources: Sequence[Resource],
    *,
    stack: str,
    stack_config: Mapping[str, Any] | None = None,
    pack_config: Path | None = None,
    pack_dir: Path = POLICY_DIR,
) -> AnalysisResult:
    """Start the pack, analyze one plan, stop the pack."""
    given = load_pack_config(pack_config)
    # The pack's time grows with the plan: allow 0.1 s per resource above the 60 s floor.
    timeout = max(60.0, 0.1 * len(resources))
    with PolicyPackProcess(
        pack_dir, stack=stack, stack_config=stack_config, call_timeout=timeout
    ) as pack:
        return pack.analyze(resources, given)
