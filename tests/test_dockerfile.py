"""The Dockerfile's promises that need no Docker to check: the port is the same in the Space's front matter,
EXPOSE, the CMD and the HEALTHCHECK; the image is locked for the public; it runs as uid 1000 (as Spaces do) with
the app's files in its home; and what the CMD starts exists. `python -m scripts.check_container` replays the
rest (docs/deploy.md)."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from explorer.access import LOCKED_ENV, is_locked

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(keyword: str) -> list[str]:
    """The arguments of every ``keyword`` instruction, continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [m[1].strip() for m in re.finditer(rf"^{keyword}\s+(.*)$", joined, flags=re.MULTILINE)]


def env() -> dict[str, str]:
    return dict(word.split("=", 1) for text in instructions("ENV") for word in shlex.split(text))


def cmd() -> list[str]:
    (text,) = instructions("CMD")
    return json.loads(text)


def test_one_port_everywhere():
    front_matter = (ROOT / "README.md").read_text().split("---")[1]
    app_port = re.search(r"^app_port:\s*(\d+)$", front_matter, flags=re.MULTILINE)[1]
    argv = cmd()
    (exposed,) = instructions("EXPOSE")
    (health,) = instructions("HEALTHCHECK")
    assert argv[argv.index("--server.port") + 1] == exposed == app_port
    assert f"localhost:{app_port}/_stcore/health" in health
    assert argv[argv.index("--server.address") + 1] == "0.0.0.0"  # reachable from outside the container


def test_the_image_is_locked_for_the_public(monkeypatch):
    monkeypatch.setenv(LOCKED_ENV, env()[LOCKED_ENV])  # as the container's environment has it
    assert is_locked()


def test_it_runs_as_uid_1000_with_the_app_in_its_home():
    (user,) = instructions("USER")
    (useradd,) = [r for r in instructions("RUN") if r.startswith("useradd")]
    assert "--uid 1000" in useradd and useradd.split()[-1] == user
    (workdir,) = instructions("WORKDIR")
    assert workdir.startswith(env()["HOME"] + "/")
    assert all(f"--chown={user}" in c for c in instructions("COPY"))


def test_the_cmd_starts_a_script_of_the_repository():
    argv = cmd()
    assert argv[:2] == ["streamlit", "run"] and (ROOT / argv[2]).is_file()
