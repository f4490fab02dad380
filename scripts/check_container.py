"""Exercise the Dockerfile's steps on a machine without Docker, as far as it allows, and write what happened.

    sudo .venv/bin/python -m scripts.check_container            # as root: it switches to uid 1000 as USER does
    sudo .venv/bin/python -m scripts.check_container --log /tmp/check.log --keep   # keep the venv and the app

It reads the Dockerfile (FROM, ENV, RUN, WORKDIR, COPY, USER, EXPOSE, HEALTHCHECK, CMD) and replays it in a scratch
folder that stands in for the image's file system:

- FROM python:X.Y-slim: a fresh virtual environment of this machine's pythonX.Y stands in for the image's Python
  (its bin/ first on PATH, where the image has /usr/local/bin); nothing from the project's .venv is visible.
- ENV: the environment of every later step is exactly the Dockerfile's ENV over a bare PATH (``env -i``). The
  image user's home (/home/user) lives under the scratch folder; the log names every such path substitution.
- RUN: each command verbatim through /bin/sh -c, as root (the Dockerfile has no USER yet), with this machine's
  pip settings added (``MACHINE_PIP_ENV``, site pip.conf). `useradd` is the one exception: where the uid it asks
  for already exists on this machine, that account is used instead.
- COPY: the build context with .dockerignore applied, owned by the --chown user; WORKDIR stays root's.
- CMD: verbatim, as the USER's uid and gid, in a network namespace of its own (loopback only), so the exact
  `--server.address 0.0.0.0 --server.port 8501` binds nothing outside and collides with no other server here.
- HEALTHCHECK: its command verbatim in that namespace, as the USER, polled once a second until it succeeds.
- Then the EXPOSEd port's / is opened in Chromium in the same namespace: the app must draw its first page with no
  exception, and locked (no text box in the sidebar).

What it cannot do here: build or run an image (no Docker), reach download.pytorch.org (the CPU torch wheel comes
from this machine's wheel folder and its dependencies from PyPI instead, as the log shows), or check the proxy a
Space puts in front of the container.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
BARE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Debian's default PATH (the image's)
PIP_CONFIGS = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf")  # the site-wide ones, read whatever HOME is
# This machine reaches the package index only through a proxy with its own certificate authority; these settings
# of its own environment are added to RUN steps (never to the CMD) and printed in the log, so pip can install at all.
MACHINE_PIP_ENV = ("PIP_CERT", "PIP_FIND_LINKS", "PIP_DEFAULT_TIMEOUT")
# Where a --index-url host cannot be resolved, what that index would have served comes from elsewhere: the wheel
# itself from PIP_FIND_LINKS (this machine's copy of torch's CPU wheel) and its dependencies from PyPI.
STAND_IN_INDEX = "https://pypi.org/simple"
HEALTH_TIMEOUT_S = 180  # the server is given this long to answer its healthcheck
RENDER_TIMEOUT_S = 120


# ------------------------------------------------------------------------------------------------ the Dockerfile
@dataclass
class Dockerfile:
    """The instructions of a Dockerfile in order, as (keyword, argument text); comments dropped, lines joined."""

    steps: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        steps, current = [], ""
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("#") or not line.strip():
                continue  # Docker drops comment lines, also inside a continued instruction
            current += line.rstrip()
            if current.endswith("\\"):
                current = current[:-1] + " "
                continue
            keyword, _, rest = current.strip().partition(" ")
            steps.append((keyword.upper(), rest.strip()))
            current = ""
        return cls(steps)

    def one(self, keyword: str) -> str:
        found = [rest for k, rest in self.steps if k == keyword]
        if len(found) != 1:
            raise ValueError(f"Dockerfile: expected one {keyword}, found {len(found)}")
        return found[0]


def expand(text: str, env: dict[str, str]) -> str:
    """Docker's $NAME / ${NAME} substitution in ENV, WORKDIR and COPY arguments."""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: env.get(m.group(1) or m.group(2), ""), text)


def env_pairs(text: str, env: dict[str, str]) -> dict[str, str]:
    """ENV's key=value pairs (values may be quoted), each expanded against the environment before this line."""
    pairs = {}
    for word in shlex.split(text):
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"Dockerfile: ENV {text!r}: only the key=value form is supported")
        pairs[key] = expand(value, env)
    return pairs


def exec_form(text: str) -> list[str]:
    """CMD ["a", "b"]; the shell form would hide what runs, so it is refused."""
    argv = json.loads(text)
    if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise ValueError(f"Dockerfile: CMD {text!r} is not the exec form [\"program\", \"arg\", ...]")
    return argv


def healthcheck_command(text: str) -> str:
    """HEALTHCHECK [OPTIONS] CMD <shell command>: the command (run through /bin/sh -c, as Docker does)."""
    options, sep, command = text.partition("CMD ")
    if not sep:
        raise ValueError(f"Dockerfile: HEALTHCHECK {text!r} has no CMD")
    if options.strip():
        raise ValueError(f"Dockerfile: HEALTHCHECK options {options.strip()!r} are not replayed here")
    return command.strip()


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether a build-context path is excluded by .dockerignore (a path or any folder above it matching)."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        pattern = pattern.strip().rstrip("/")
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(p, pattern[3:]) for p in parts):
                return True
        elif any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            return True
    return False


# ------------------------------------------------------------------------------------------------ the replay
class Replay:
    def __init__(self, dockerfile: Path, scratch: Path, log):
        self.df, self.scratch, self.log = Dockerfile.read(dockerfile), scratch, log
        self.context = dockerfile.parent
        self.env: dict[str, str] = {}
        self.user: tuple[int, int] | None = None  # (uid, gid) after USER; root before
        self.users: dict[str, tuple[int, int]] = {}  # names the Dockerfile gave to uids
        self.workdir = scratch
        self.python = scratch / "image-python"

    def say(self, text: str = "") -> None:
        print(text, file=self.log, flush=True)
        print(text, flush=True)

    def in_image(self, path: str) -> Path:
        """Where an absolute path of the image lives on this machine: under the scratch folder."""
        return self.scratch / path.lstrip("/")

    def localise(self, text: str) -> str:
        """The image user's home, written as the image sees it, rewritten to its place under the scratch folder."""
        home = self.env.get("HOME")
        return text.replace(home, str(self.in_image(home))) if home else text

    def run_env(self) -> dict[str, str]:
        return {k: self.localise(v) for k, v in self.env.items()}

    def replay(self) -> tuple[list[str], str, int]:
        """Every build step; returns the CMD, the healthcheck command and the EXPOSEd port."""
        for keyword, rest in self.df.steps:
            getattr(self, f"step_{keyword.lower()}", self.step_other)(rest)
        return exec_form(self.df.one("CMD")), healthcheck_command(self.df.one("HEALTHCHECK")), int(
            self.df.one("EXPOSE").split("/")[0])

    def step_other(self, rest: str) -> None:
        raise ValueError(f"Dockerfile: an instruction this replay does not know: {rest!r}")

    def step_from(self, rest: str) -> None:
        match = re.fullmatch(r"python:(\d+\.\d+)[\w.-]*", rest)
        if not match:
            raise ValueError(f"Dockerfile: FROM {rest!r} is not a python:X.Y image")
        # looked up on the bare PATH: an interpreter in root's home (pyenv) is one the image's user could not run
        interpreter = shutil.which(f"python{match[1]}", path=BARE_PATH)
        if interpreter is None:
            raise RuntimeError(f"FROM {rest}: no python{match[1]} on this machine to stand in for the image's")
        started = time.perf_counter()
        subprocess.run([interpreter, "-m", "venv", str(self.python)], check=True)
        version = subprocess.run([str(self.python / "bin" / "python"), "-V"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        self.env = {"PATH": f"{self.python / 'bin'}:{BARE_PATH}", "LANG": "C.UTF-8"}  # what python:*-slim sets
        self.say(f"FROM {rest}: a fresh venv of {interpreter} ({version}) at {self.python} "
                 f"({time.perf_counter() - started:.1f} s)")

    def step_env(self, rest: str) -> None:
        pairs = env_pairs(rest, self.env)
        self.env.update(pairs)
        self.say(f"ENV {' '.join(f'{k}={v}' for k, v in pairs.items())}")

    def step_workdir(self, rest: str) -> None:
        self.workdir = self.in_image(expand(rest, self.env))
        self.workdir.mkdir(parents=True, exist_ok=True)  # root's, as Docker leaves it before any USER
        self.say(f"WORKDIR {rest} -> {self.workdir}")

    def step_user(self, rest: str) -> None:
        name = rest.split(":")[0]
        self.user = self.users.get(name) or (pwd.getpwnam(name).pw_uid, pwd.getpwnam(name).pw_gid)
        self.say(f"USER {rest} -> uid {self.user[0]}, gid {self.user[1]}")

    def step_expose(self, rest: str) -> None:
        self.say(f"EXPOSE {rest}")

    def step_healthcheck(self, rest: str) -> None:
        self.say(f"HEALTHCHECK {rest}  (replayed after start-up)")

    def step_cmd(self, rest: str) -> None:
        self.say(f"CMD {json.dumps(exec_form(rest))}  (started below)")

    def step_copy(self, rest: str) -> None:
        words = shlex.split(rest)
        chown = next((w.split("=", 1)[1] for w in words if w.startswith("--chown=")), None)
        *sources, dest = [w for w in words if not w.startswith("--")]
        uid, gid = (self.users.get(chown.split(":")[0]) or (0, 0)) if chown else (0, 0)
        patterns = [line for line in (self.context / ".dockerignore").read_text().splitlines()
                    if line.strip() and not line.startswith("#")] if (self.context / ".dockerignore").is_file() else []
        target_root = self.workdir / dest if not dest.startswith("/") else self.in_image(dest)
        count, size = 0, 0
        for source in sources:
            base = self.context / source
            for path in [base] if base.is_file() else self.context_files(base, patterns):
                to = target_root / (path.name if base.is_file() else path.relative_to(base))
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, to, follow_symlinks=False)
                count, size = count + 1, size + to.lstat().st_size
        for path in [target_root, *target_root.rglob("*")]:
            if path != self.workdir:
                os.lchown(path, uid, gid)
        self.say(f"COPY {rest}: {count} files, {size / 2**20:.1f} MiB (.dockerignore applied), owner uid {uid}")

    def context_files(self, base: Path, patterns: list[str]) -> list[Path]:
        """Files under ``base`` that .dockerignore keeps; ignored folders are not walked (.venv is large)."""
        found = []
        for folder, dirs, files in os.walk(base):
            rel = Path(folder).relative_to(self.context)
            dirs[:] = sorted(d for d in dirs if not ignored((rel / d).as_posix(), patterns))
            found += [Path(folder) / f for f in sorted(files) if not ignored((rel / f).as_posix(), patterns)]
        return found

    def step_run(self, rest: str) -> None:
        words = shlex.split(rest)
        if words and words[0] == "useradd":
            uid = int(words[words.index("--uid") + 1])
            name = words[-1]
            try:
                existing = pwd.getpwuid(uid)
            except KeyError:
                existing = None
            if existing is not None:
                self.users[name] = (existing.pw_uid, existing.pw_gid)
                self.say(f"RUN {rest}: uid {uid} already exists here ({existing.pw_name}); it stands in for {name!r}")
            else:
                subprocess.run(["/bin/sh", "-c", rest], check=True)
                entry = pwd.getpwnam(name)
                self.users[name] = (entry.pw_uid, entry.pw_gid)
                self.say(f"RUN {rest}: created")
            home = self.in_image(self.env.get("HOME") or f"/home/{name}")
            home.mkdir(parents=True, exist_ok=True)
            os.chown(home, *self.users[name])  # --create-home: the user's own home
            return
        self.say(f"RUN {rest}")
        started = time.perf_counter()
        machine = machine_pip_env(rest)
        if machine:
            self.say(f"    (this machine's pip settings added: {' '.join(f'{k}={v}' for k, v in machine.items())})")
        done = subprocess.run(["/bin/sh", "-c", rest], cwd=self.workdir, env={**self.run_env(), **machine},
                              capture_output=True, text=True)
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        retries = sum("Retrying" in line for line in lines)
        shown = [line for line in lines if line.startswith(("Successfully installed", "ERROR"))] or lines[-6:]
        if retries:
            self.say(f"    | ({retries} pip warnings 'Retrying ... NewConnectionError': a host pip cannot reach here)")
        for line in shown:
            self.say(f"    | {line[:600]}" + (" ..." if len(line) > 600 else ""))
        self.say(f"    -> exit {done.returncode} in {time.perf_counter() - started:.0f} s")
        if done.returncode != 0:
            raise RuntimeError(f"RUN {rest} failed with exit {done.returncode}")


def machine_pip_env(command: str) -> dict[str, str]:
    """This machine's pip settings a RUN needs here (``MACHINE_PIP_ENV``, and ``STAND_IN_INDEX`` for an index
    whose host does not resolve); none for a RUN that is not a pip install."""
    if "pip install" not in command:
        return {}
    env = {k: os.environ[k] for k in MACHINE_PIP_ENV if k in os.environ}
    for url in re.findall(r"--index-url[= ](\S+)", command):
        host = re.sub(r"^\w+://([^/:]+).*", r"\1", url)
        try:
            socket.getaddrinfo(host, 443)
        except OSError:
            env["PIP_EXTRA_INDEX_URL"] = STAND_IN_INDEX
    return env


# ------------------------------------------------------------------------------------------------ start and probe
def as_user(uid: int, gid: int, argv: list[str]) -> list[str]:
    return ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv]


def in_namespace_of(pid: int, argv: list[str]) -> list[str]:
    return ["/usr/bin/nsenter", f"--net=/proc/{pid}/ns/net", "--", *argv]


def start_server(replay: Replay, cmd: list[str], out: Path) -> subprocess.Popen:
    """The CMD verbatim as the USER, in a new network namespace with only loopback up."""
    uid, gid = replay.user or (0, 0)
    shell = 'ip link set lo up && exec "$@"'
    argv = ["/usr/bin/unshare", "--net", "--", "/bin/sh", "-c", shell, "sh", *as_user(uid, gid, cmd)]
    return subprocess.Popen(argv, cwd=replay.workdir, env=replay.run_env(), stdout=out.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(replay: Replay, server: subprocess.Popen, check: str) -> tuple[float, int]:
    """Seconds from start until the healthcheck command first exits 0, and how many tries it took."""
    uid, gid = replay.user or (0, 0)
    started, tries, last = time.monotonic(), 0, ""
    while time.monotonic() - started < HEALTH_TIMEOUT_S:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before it was healthy")
        tries += 1
        done = subprocess.run(in_namespace_of(server.pid, as_user(uid, gid, ["/bin/sh", "-c", check])),
                              cwd=replay.workdir, env=replay.run_env(), capture_output=True, text=True)
        if done.returncode == 0:
            return time.monotonic() - started, tries
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        if done.returncode in (126, 127):  # the shell could not run the command at all: waiting will not help
            break
        time.sleep(1.0)
    raise RuntimeError(f"the healthcheck did not succeed within {time.monotonic() - started:.0f} s "
                       f"({tries} tries; last: {last})")


def render(url: str) -> dict:
    """Open ``url`` in Chromium and wait for the app to settle (runs inside the server's network namespace)."""
    from explorer.browser import chromium, counts, wait_idle

    started = time.monotonic()
    with chromium() as page:
        response = page.goto(url)
        wait_idle(page, timeout=RENDER_TIMEOUT_S)
        return {"status": response.status if response else None, "seconds": round(time.monotonic() - started, 1),
                "title": page.locator("h1").first.inner_text() if page.locator("h1").count() else None,
                "sidebar text boxes": page.locator('[data-testid="stSidebar"] [data-testid="stTextInput"]').count(),
                **counts(page)}


def resident_mib(pid: int) -> float:
    """Resident memory of the server process and its children, from /proc."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        ppid = int(re.search(r"PPid:\s+(\d+)", text)[1])
        if int(status.parent.name) == pid or ppid == pid:
            match = re.search(r"VmRSS:\s+(\d+) kB", text)
            total += int(match[1]) if match else 0
    return total / 1024


def check(log_path: Path, keep: bool) -> int:
    if os.geteuid() != 0:
        print("error: run this as root: it creates a network namespace and switches to the Dockerfile's uid",
              file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="check-container-"))
    os.chmod(scratch, 0o755)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server = None
    with log_path.open("w") as log:
        replay = Replay(DOCKERFILE, scratch, log)
        try:
            replay.say(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the Dockerfile replayed in "
                       f"{scratch} (the image's / is that folder; Docker itself is not available here)")
            configs = [c for c in PIP_CONFIGS if Path(c).is_file()]
            replay.say(f"site pip configuration of this machine, read by every pip: {', '.join(configs) or 'none'}")
            cmd, health, port = replay.replay()
            replay.say(f"start: {shlex.join(cmd)}  (uid {(replay.user or (0, 0))[0]}, own network namespace, "
                       f"cwd {replay.workdir})")
            server = start_server(replay, cmd, scratch / "server.log")
            seconds, tries = wait_healthy(replay, server, health)
            replay.say(f"healthcheck `{health}`: exit 0 after {seconds:.1f} s ({tries} tries)")
            page = subprocess.run(in_namespace_of(server.pid, [sys.executable, "-m", "scripts.check_container",
                                                               "--render", f"http://localhost:{port}/"]),
                                  cwd=ROOT, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S + 60)
            if page.returncode != 0:
                raise RuntimeError(f"the first page could not be drawn: {page.stderr.strip()[-800:]}")
            drawn = json.loads(page.stdout.strip().splitlines()[-1])
            replay.say(f"first page http://localhost:{port}/ in Chromium (driven from the project's .venv): "
                       f"{json.dumps(drawn)}")
            replay.say(f"server resident memory after the first page: {resident_mib(server.pid):.0f} MiB")
            problems = [name for name, bad in (("an exception on the page", drawn["exceptions"]),
                                               ("an error on the page", drawn["errors"]),
                                               ("a text box in the sidebar (not locked)", drawn["sidebar text boxes"]),
                                               ("no title", not drawn["title"])) if bad]
            replay.say("result: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
            return 0 if not problems else 1
        except (RuntimeError, ValueError, subprocess.SubprocessError, OSError) as e:
            replay.say(f"result: FAIL: {e}")
            return 1
        finally:
            if server is not None:
                os.killpg(server.pid, 15)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, 9)
                server_log = (scratch / "server.log").read_text(errors="replace").strip().splitlines()
                replay.say("server log (last lines):")
                for line in server_log[-8:]:
                    replay.say(f"    | {line[:200]}")
            if keep:
                replay.say(f"kept: {scratch}")
            else:
                shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", default="check_container.log", help="where the log is written (also printed)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (the venv and the copied app)")
    p.add_argument("--render", metavar="URL", help=argparse.SUPPRESS)  # internal: the browser step, in the netns
    args = p.parse_args(argv)
    if args.render:
        print(json.dumps(render(args.render)))
        return 0
    return check(Path(args.log), args.keep)


if __name__ == "__main__":
    sys.exit(main())
