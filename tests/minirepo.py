"""A minimal valid repository, written into a temp dir, for tests that break one thing."""

from __future__ import annotations

from pathlib import Path

FILES = {
    "providers/sim.yaml": """\
apiVersion: benchctl/v1
kind: Provider
metadata: {name: sim}
spec:
  route: openai/
  api_base: http://127.0.0.1:8799/v1
  simulator: {seed: 1}
  models:
    sim-fast:
      context_window: 100000
      prices: {input: 1, output: 2}
      simulate:
        ttft_ms: {median: 100, p95: 300}
        tokens_per_second: {median: 100, p95: 200}
        output_tokens: {median: 100, p95: 400}
""",
    "harness_profiles/script.yaml": """\
apiVersion: benchctl/v1
kind: HarnessProfile
metadata: {name: script}
spec:
  harness: OpenAI SDK script
  protocol: openai-chat
  env:
    OPENAI_BASE_URL: "{{ proxy.url }}/v1"
    OPENAI_API_KEY: "{{ session.key }}"
  settings:
    turns: {type: integer, default: 3}
  launch: "python agent.py --model {{ variant.model_alias }} --turns {{ variant.settings.turns }}"
""",
    "task_cards/hello.yaml": """\
apiVersion: benchctl/v1
kind: TaskCard
metadata: {name: hello}
spec:
  title: Say hello
  repository: {url: "https://example.org/r.git", commit: "abcdef1"}
  instructions: Print hello.
  acceptance_criteria: [prints hello]
  timebox: 10m
  difficulty: easy
""",
    "variants/fast.yaml": """\
apiVersion: benchctl/v1
kind: Variant
metadata: {name: fast}
spec:
  provider: sim
  model: sim-fast
  harness_profile: script
""",
    "experiments/exp.yaml": """\
apiVersion: benchctl/v1
kind: Experiment
metadata: {name: exp}
spec:
  variants: [fast]
  task_cards: [hello]
  baseline: fast
""",
}


def write_minirepo(root: Path, **overrides: str | None) -> Path:
    """Write the repository; ``overrides`` maps folder__name (no suffix) to new text or None."""
    files = dict(FILES)
    for key, text in overrides.items():
        rel = key.replace("__", "/") + ".yaml"
        if text is None:
            files.pop(rel, None)
        else:
            files[rel] = text
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
