"""Validate at scale: ``benchctl validate`` on a large synthetic repository vs a bare libyaml load.

The script writes a repository of N valid manifests (mostly variants and task cards, plus
providers, harness profiles with Jinja2 templates, and experiments with session entries), checks
that benchctl finds nothing wrong with it, and then times, alternating in the same run:

* baseline: read every file and ``yaml.load(data, Loader=yaml.CSafeLoader)`` it, nothing else;
* validate: ``benchctl.manifests.loader.load_repository(root)`` in-process.

The headline figure is median(validate) / median(baseline); the target is at most 2.0. One run of
the real CLI (``benchctl validate --root DIR``, a subprocess, so interpreter start-up and imports
included) is reported on its own line.

    python bench/validate_scale.py                 # 10,000 manifests, 5 repeats
    python bench/validate_scale.py --n 2000 --repeats 3 --json
    python bench/validate_scale.py --repeats 1 --no-cli --profile   # where the time goes
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from benchctl.manifests.loader import load_repository

TARGET_RATIO = 2.0
FOLDERS = ("providers", "harness_profiles", "task_cards", "variants", "experiments")
MIN_N = 10

# --------------------------------------------------------------------------------------------
# Synthetic repository
# --------------------------------------------------------------------------------------------

_FAMILIES = ("sonnet", "haiku", "opus", "gpt", "gpt-mini", "gemini-pro", "gemini-flash", "qwen")
_ROUTES = ("anthropic/", "openai/", "openrouter/", "gemini/", "together_ai/", "bedrock/")
_REGIONS = ("eu-west", "us-east", "us-west", "ap-south")
_LANGS = ("python", "typescript", "go", "rust", "java", "ruby")
_AREAS = ("http-client", "cli", "parser", "scheduler", "auth", "storage", "billing", "search")
_VERBS = ("fix", "add", "refactor", "speed-up", "document", "migrate")
_PROTOCOLS = ("anthropic-messages", "openai-chat", "openai-responses")


@dataclass(frozen=True)
class Plan:
    """How many manifests of each kind make up N."""

    providers: int
    harness_profiles: int
    task_cards: int
    variants: int
    experiments: int

    @classmethod
    def for_total(cls, n: int) -> Plan:
        providers = max(2, n // 500)
        profiles = max(2, n // 1000)
        experiments = max(1, n // 100)
        rest = n - providers - profiles - experiments
        return cls(providers, profiles, rest // 2, rest - rest // 2, experiments)

    @property
    def total(self) -> int:
        return sum(asdict(self).values())


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    models: tuple[str, ...]


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    reasoning: tuple[str, ...]


def _schema_line(schema: str) -> str:
    return f"# yaml-language-server: $schema=../schemas/{schema}.schema.json"


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _provider(index: int, rng: random.Random) -> tuple[ProviderInfo, str]:
    name = f"provider-{index:03d}"
    simulated = index == 0
    models = tuple(
        f"{rng.choice(_FAMILIES)}-{major}-{index}-{m}"
        for m, major in enumerate(rng.sample(range(2, 9), rng.randint(3, 6)))
    )
    lines = [
        _schema_line("provider"),
        f"# {name}: {'the simulated upstream' if simulated else 'an upstream reached via LiteLLM'}",
        "apiVersion: benchctl/v1",
        "kind: Provider",
        "metadata:",
        f"  name: {name}",
        f"  description: Provider {index}, {len(models)} models, billed per million tokens.",
        "  labels:",
        f"    tier: {'simulated' if simulated else rng.choice(('paid', 'trial'))}",
        f"    benchctl.dev/region: {rng.choice(_REGIONS)}",
        "spec:",
    ]
    if simulated:
        lines += ["  route: openai/", "  simulator:", f"    seed: {rng.randint(1, 9999)}"]
    else:
        lines += [
            f"  route: {rng.choice(_ROUTES)}",
            f"  api_base: https://api.{name}.example.com/v1",
            f"  api_key_env: PROVIDER_{index:03d}_API_KEY",
        ]
    lines.append("  models:")
    for model in models:
        price_in = round(rng.uniform(0.1, 15), 2)
        lines += [
            f"    {model}:",
            f"      context_window: {rng.choice((128_000, 200_000, 1_000_000))}",
            f"      max_output_tokens: {rng.choice((8192, 32000, 64000))}",
            "      prices:",
            f"        input: {price_in}",
            f"        output: {round(price_in * 5, 2)}",
            f"        cache_read: {round(price_in / 10, 3)}",
            f"        cache_write: {round(price_in * 1.25, 3)}",
        ]
        if simulated:
            lines += [
                "      simulate:",
                "        ttft_ms: {median: 450, p95: 1800}",
                "        tokens_per_second: {median: 80, p95: 140}",
                "        output_tokens:",
                f"          median: {rng.randint(200, 800)}",
                "          p95: 4000",
                f"        cached_prompt_fraction: {round(rng.uniform(0, 0.8), 2)}",
                "        errors:",
                "          rate: 0.02",
                "          kinds: [rate_limit, server_error]",
            ]
    return ProviderInfo(name, models), "\n".join(lines) + "\n"


def _harness_profile(index: int, rng: random.Random) -> tuple[ProfileInfo, str]:
    name = f"harness-{index:02d}"
    protocol = _PROTOCOLS[index % len(_PROTOCOLS)]
    reasoning = ("low", "medium", "high")
    if protocol == "anthropic-messages":
        env = [
            'ANTHROPIC_BASE_URL: "{{ proxy.url }}"',
            'ANTHROPIC_AUTH_TOKEN: "{{ session.key }}"',
            'ANTHROPIC_MODEL: "{{ variant.model_alias }}"',
        ]
    else:
        env = [
            'OPENAI_BASE_URL: "{{ proxy.url }}/v1"',
            'OPENAI_API_KEY: "{{ session.key }}"',
            'OPENAI_MODEL: "{{ variant.model_alias }}"',
        ]
    env += [
        'HARNESS_SESSION_ID: "{{ session.id }}"',
        'BENCHCTL_TASK: "{{ task_card.name }}@{{ task_card.commit[:12] }}"',
        'TASK_PROMPT: "{{ task_card.instructions }}"',
        'HARNESS_MAX_TURNS: "{{ variant.settings.max_turns }}"',
    ]
    text = f"""\
{_schema_line("harness-profile")}
# {name}: how harness {index} reaches the proxy. Templates render per session.
apiVersion: benchctl/v1
kind: HarnessProfile
metadata:
  name: {name}
  description: Coding-agent harness {index} speaking {protocol}.
  labels:
    vendor: vendor-{index % 4}
spec:
  harness: Harness {index}.x
  protocol: {protocol}
  docs_url: https://docs.example.com/harness-{index}
  env:
{"".join(f"    {line}{chr(10)}" for line in env)}\
  args:
    - --model
    - "{{{{ variant.model_alias }}}}"
    - "--max-turns={{{{ variant.settings.max_turns }}}}"
    - "{{% if variant.settings.auto_approve %}}--yes{{% else %}}--ask{{% endif %}}"
  settings:
    max_turns:
      type: integer
      description: Turns before the harness gives up.
      required: true
    reasoning:
      type: string
      description: Thinking budget the harness asks for.
      enum: [{", ".join(reasoning)}]
      default: medium
    auto_approve:
      type: boolean
      default: false
    temperature_hint:
      type: number
      default: {round(rng.uniform(0, 1), 1)}
  launch: >-
    cd work/{{{{ task_card.name }}}} &&
    git checkout {{{{ task_card.commit }}}} &&
    harness-{index} --session {{{{ session.id }}}} --timebox {{{{ task_card.timebox }}}}
"""
    return ProfileInfo(name, reasoning), text


def _task_card(index: int, rng: random.Random) -> tuple[str, str]:
    verb, area, lang = rng.choice(_VERBS), rng.choice(_AREAS), rng.choice(_LANGS)
    name = f"task-{index:05d}-{verb}-{area}"
    criteria = "".join(
        f"    - {c}\n"
        for c in rng.sample(
            [
                "the existing test suite passes",
                f"a new regression test covers the {area} change",
                "no public API changes",
                "lint and type checks pass",
                "the change log has an entry",
                f"benchmarks of the {area} do not regress by more than 5%",
            ],
            rng.randint(2, 4),
        )
    )
    text = f"""\
{_schema_line("task-card")}
apiVersion: benchctl/v1
kind: TaskCard
metadata:
  name: {name}
  description: "{verb} in the {area} of a {lang} service (task {index})"
  labels:
    language: {lang}
    area: {area}
spec:
  title: {verb.capitalize()} the {area} module of service {index % 97}
  repository:
    url: https://git.example.com/acme/service-{index % 97}.git
    commit: "{_sha(rng)}"
  instructions: |
    Work in the {area} module of this {lang} service. {verb.capitalize()} the behaviour
    described in issue #{rng.randint(100, 9999)}: requests that time out are retried without
    backoff, which floods the upstream during incidents.

    Keep the change small and explain it in the commit message.
  acceptance_criteria:
{criteria}\
  timebox: {rng.choice(("30m", "45m", "1h", "1h30m", "2h"))}
  difficulty: {rng.choice(("easy", "medium", "hard"))}
  tags: [{lang}, {area}, {verb}]
"""
    return name, text


def _variant(
    index: int, rng: random.Random, providers: list[ProviderInfo], profiles: list[ProfileInfo]
) -> tuple[str, str]:
    provider = rng.choice(providers)
    profile = rng.choice(profiles)
    model = rng.choice(provider.models)
    name = f"variant-{index:05d}-{profile.name}"
    extra = (
        "    extra:\n      parallel_tool_calls: false\n      metadata: {team: evals}\n"
        if index % 3 == 0
        else ""
    )
    text = f"""\
{_schema_line("variant")}
apiVersion: benchctl/v1
kind: Variant
metadata:
  name: {name}
  description: {model} via {provider.name} driven by {profile.name}
  labels:
    provider: {provider.name}
    harness: {profile.name}
spec:
  provider: {provider.name}
  model: {model}
  harness_profile: {profile.name}
  harness_settings:
    max_turns: {rng.choice((20, 40, 80))}
    reasoning: {rng.choice(profile.reasoning)}
    auto_approve: {rng.choice(("true", "false"))}
  request:
    temperature: {round(rng.uniform(0, 1), 2)}
    max_tokens: {rng.choice((4096, 8192, 16384))}
    reasoning_effort: {rng.choice(("low", "medium", "high"))}
    seed: {rng.randint(0, 2**31)}
{extra}"""
    return name, text


def _experiment(
    index: int, rng: random.Random, variants: list[str], task_cards: list[str]
) -> tuple[str, str]:
    name = f"experiment-{index:04d}"
    chosen_variants = rng.sample(variants, min(len(variants), rng.randint(3, 6)))
    chosen_tasks = rng.sample(task_cards, min(len(task_cards), rng.randint(4, 8)))
    replicates = rng.randint(1, 3)
    grid = [(v, t, r) for v in chosen_variants for t in chosen_tasks for r in range(replicates)]
    sessions = []
    for v, t, r in rng.sample(grid, min(len(grid), rng.randint(5, 30))):
        status = rng.choice(("finalized", "finalized", "open", "aborted"))
        entry = f"    - variant: {v}\n      task_card: {t}\n      replicate: {r + 1}\n"
        entry += f"      status: {status}\n"
        if status == "finalized":
            entry += f"      outcome: {rng.choice(('success', 'partial', 'failure'))}\n"
            entry += "      notes: reviewed by the operator\n"
        sessions.append(entry)
    text = f"""\
{_schema_line("experiment")}
# {name}: does the harness matter more than the model on these tasks?
apiVersion: benchctl/v1
kind: Experiment
metadata:
  name: {name}
  labels:
    owner: team-{index % 7}
spec:
  hypothesis: >
    On mid-sized maintenance tasks the harness changes the success rate more than the
    model does, at a comparable cost per session.
  variants:
{"".join(f"    - {v}{chr(10)}" for v in chosen_variants)}\
  task_cards:
{"".join(f"    - {t}{chr(10)}" for t in chosen_tasks)}\
  baseline: {chosen_variants[0]}
  replicates: {replicates}
  session_policy:
    ttl: 4h
    budget_usd: {rng.choice((2.5, 5.0, 10.0))}
    content_capture:
      enabled: {"true" if index % 2 else "false"}
      redact:
        - '(?i)password=\\S+'
        - '[0-9]{{4}}-[0-9]{{4}}-[0-9]{{4}}-[0-9]{{4}}'
      retention: 14d
  sessions:
{"".join(sessions)}"""
    return name, text


def generate(root: Path, n: int, seed: int) -> Plan:
    """Write a valid repository of ``n`` manifests under ``root``; return how many of each."""
    plan = Plan.for_total(n)
    rng = random.Random(seed)
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)

    def write(folder: str, name: str, text: str) -> None:
        (root / folder / f"{name}.yaml").write_text(text, encoding="utf-8")

    providers: list[ProviderInfo] = []
    profiles: list[ProfileInfo] = []
    variants: list[str] = []
    task_cards: list[str] = []
    for i in range(plan.providers):
        info, text = _provider(i, rng)
        providers.append(info)
        write("providers", info.name, text)
    for i in range(plan.harness_profiles):
        profile, text = _harness_profile(i, rng)
        profiles.append(profile)
        write("harness_profiles", profile.name, text)
    for i in range(plan.task_cards):
        name, text = _task_card(i, rng)
        task_cards.append(name)
        write("task_cards", name, text)
    for i in range(plan.variants):
        name, text = _variant(i, rng, providers, profiles)
        variants.append(name)
        write("variants", name, text)
    for i in range(plan.experiments):
        name, text = _experiment(i, rng, variants, task_cards)
        write("experiments", name, text)
    return plan


def manifest_files(root: Path) -> list[Path]:
    return [p for folder in FOLDERS for p in sorted((root / folder).glob("*.yaml"))]


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def baseline_load(files: list[Path]) -> None:
    """The floor: read each file and hand it to libyaml, nothing else."""
    for path in files:
        with path.open("rb") as f:
            yaml.load(f.read(), Loader=yaml.CSafeLoader)


def validate_in_process(root: Path, expected_files: int) -> None:
    """``load_repository(root)``, failing loudly unless the repository comes out valid."""
    result = load_repository(root)
    if result.diagnostics or result.files_checked != expected_files:
        shown = "\n".join(
            f"  {d.path}:{d.line}:{d.col}: {d.code} {d.message}" for d in result.diagnostics[:10]
        )
        raise SystemExit(
            f"the synthetic repository should be valid: {len(result.diagnostics)} diagnostics,"
            f" {result.files_checked} of {expected_files} files checked\n{shown}"
        )


def timed(fn: Callable[[], object]) -> float:
    gc.collect()  # each run starts from a clean heap, not the previous run's garbage
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cli_command() -> list[str]:
    """The ``benchctl`` script of this interpreter's environment, else ``python -m benchctl``."""
    script = Path(sys.executable).parent / "benchctl"
    if script.exists():
        return [str(script)]
    found = shutil.which("benchctl")
    return [found] if found else [sys.executable, "-m", "benchctl"]


def time_cli(args: list[str]) -> float:
    """Wall time of one ``benchctl ARGS`` subprocess, which must exit 0."""
    start = time.perf_counter()
    proc = subprocess.run([*cli_command(), *args], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"benchctl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
    return elapsed


def profile_validate(root: Path, top: int) -> str:
    """cProfile of one ``load_repository`` run: the top functions by own and cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    load_repository(root)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


@contextmanager
def repository_dir(requested: Path | None) -> Iterator[Path]:
    """``requested`` (kept afterwards), or a temporary directory removed on exit."""
    if requested is not None:
        if requested.exists() and any(requested.iterdir()):
            raise SystemExit(f"--dir {requested} is not empty; give a new or empty directory")
        requested.mkdir(parents=True, exist_ok=True)
        yield requested
        return
    with tempfile.TemporaryDirectory(prefix="benchctl-validate-scale-") as tmp:
        yield Path(tmp)


@dataclass(frozen=True)
class Runs:
    median: float
    runs: list[float]

    @classmethod
    def of(cls, runs: list[float]) -> Runs:
        return cls(statistics.median(runs), runs)


@dataclass(frozen=True)
class Figures:
    """Everything one run measured; ``--json`` prints exactly this."""

    n: int
    counts: dict[str, int]
    bytes: int
    repeats: int
    seed: int
    baseline_s: Runs
    validate_s: Runs
    cli_validate_s: float | None
    cli_startup_s: float | None
    machine: dict[str, object]
    benchmark: str = "validate_scale"
    target_ratio: float = TARGET_RATIO

    @property
    def ratio(self) -> float:
        return self.validate_s.median / self.baseline_s.median

    def as_json(self) -> str:
        fields = asdict(self)
        head = {key: fields.pop(key) for key in ("benchmark", "n")}
        return json.dumps({**head, "ratio": self.ratio, **fields}, indent=2)

    def as_text(self) -> str:
        base, val, n = self.baseline_s.median, self.validate_s.median, self.n
        kinds = ", ".join(f"{count:,} {kind}" for kind, count in self.counts.items())

        def per_file(seconds: float) -> str:
            return f"{seconds / n * 1e6:5.0f} µs/file"

        verdict = "within target" if self.ratio <= self.target_ratio else "ABOVE TARGET"
        lines = [
            f"validate_scale: {n:,} manifests ({kinds}), {self.bytes / 1e6:.1f} MB;"
            f" medians of {self.repeats} alternating repeats;"
            f" nproc {self.machine['nproc']}, Python {self.machine['python']}",
            f"  baseline  read + yaml.load(CSafeLoader)  {base:7.3f} s  {per_file(base)}",
            f"  validate  load_repository(root)          {val:7.3f} s  {per_file(val)}",
            f"  ratio     validate / baseline            {self.ratio:7.2f}"
            f"    target <= {self.target_ratio:.1f}: {verdict}",
        ]
        if self.cli_validate_s is not None and self.cli_startup_s is not None:
            lines.append(
                f"  cli       benchctl validate --root DIR   {self.cli_validate_s:7.3f} s"
                f"  (one subprocess run; start-up alone {self.cli_startup_s:.3f} s)"
            )
        return "\n".join(lines)


def machine() -> dict[str, object]:
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "pyyaml": yaml.__version__,
        "libyaml": yaml.__with_libyaml__,
    }


def run(args: argparse.Namespace) -> tuple[Figures, str | None]:
    """Generate, time, and optionally profile; the figures and the profile text."""

    def say(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    with repository_dir(args.dir) as root:
        say(f"generating {args.n:,} manifests in {root} ...")
        plan = generate(root, args.n, args.seed)
        files = manifest_files(root)
        if len(files) != args.n:
            raise SystemExit(f"generated {len(files)} files, expected {args.n}")
        total_bytes = sum(p.stat().st_size for p in files)

        say("warm-up: page cache, imports, first-use caches; checks the repository is valid")
        baseline_load(files)
        validate_in_process(root, len(files))

        baseline_runs: list[float] = []
        validate_runs: list[float] = []
        for i in range(args.repeats):
            say(f"repeat {i + 1}/{args.repeats}")
            baseline_runs.append(timed(lambda: baseline_load(files)))
            validate_runs.append(timed(lambda: validate_in_process(root, len(files))))

        cli_validate = cli_startup = None
        if not args.no_cli:
            say("one run of the CLI as a subprocess")
            cli_startup = time_cli(["--version"])
            cli_validate = time_cli(["validate", "--root", str(root)])

        profile = profile_validate(root, args.profile_top) if args.profile else None

    figures = Figures(
        n=args.n,
        counts=asdict(plan),
        bytes=total_bytes,
        repeats=args.repeats,
        seed=args.seed,
        baseline_s=Runs.of(baseline_runs),
        validate_s=Runs.of(validate_runs),
        cli_validate_s=cli_validate,
        cli_startup_s=cli_startup,
        machine=machine(),
    )
    return figures, profile


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `benchctl validate` on a synthetic repository of N valid manifests"
        " against a bare libyaml load of the same files, alternating in the same run.",
    )
    parser.add_argument(
        "--n", type=int, default=10_000, help="manifests to generate (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs of each side (default: %(default)s)"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="generate into this new or empty directory and keep it (default: a temporary"
        " directory, removed afterwards)",
    )
    parser.add_argument(
        "--seed", type=int, default=20240601, help="seed of the generator (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument("--no-cli", action="store_true", help="skip the subprocess CLI run")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after timing, cProfile one load_repository run and print the top functions",
    )
    parser.add_argument(
        "--profile-top",
        type=int,
        default=25,
        help="functions --profile lists (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.n < MIN_N:
        parser.error(f"--n must be at least {MIN_N}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    figures, profile = run(args)
    if args.json:
        print(figures.as_json())
        return
    print(figures.as_text())
    if profile:
        print("\ncProfile of one load_repository run (after the timed runs):")
        print(profile)


if __name__ == "__main__":
    main()
