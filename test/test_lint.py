"""Lint and layering, as ROS packages run ament_flake8 as a test: ruff (ruff.toml) and the import
contract of setup.cfg (import-linter: each capability imports only the packages below it)."""

from __future__ import annotations

import shutil
import subprocess

from helpers import BIN, REPO

PACKAGE = REPO / "digital_twin_gz"
MAX_MODULE_LINES = 400
README = REPO / "README.md"


def _run(*command: str, cwd=REPO, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_ruff_finds_nothing():
    result = _run(str(BIN / "ruff"), "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_point_down_the_layers():
    result = _run(str(BIN / "lint-imports"), "--no-cache", "--config", "setup.cfg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layering(tmp_path):
    """The contract really is enforced: the same package with robot/ importing the CLI fails it."""
    shutil.copytree(PACKAGE, tmp_path / "digital_twin_gz", ignore=shutil.ignore_patterns("__pycache__"))
    world = tmp_path / "digital_twin_gz" / "robot" / "world.py"
    world.write_text(world.read_text() + "\nfrom digital_twin_gz.cli import app  # noqa: E402\n")
    shutil.copy(REPO / "setup.cfg", tmp_path / "setup.cfg")
    result = _run(str(BIN / "lint-imports"), "--no-cache", "--config", "setup.cfg", cwd=tmp_path,
                  env={"PATH": str(BIN), "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "digital_twin_gz.robot is not allowed to import digital_twin_gz.cli" in result.stdout


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"split these by job: {long}"


def _two_commands() -> list[str]:
    """The command lines of the README's "Two commands" block."""
    section = README.read_text().split("## Two commands", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_keeps_two_commands_and_ci_runs_the_second():
    main_job, suite = _two_commands()
    assert "digital-twin-gz demo" in main_job
    assert suite in (REPO / ".ci" / "run").read_text().splitlines()


def test_each_readme_section_is_there_once():
    """A section pasted twice (once in an edit: an old copy of five sections left below the new
    ones) is read as two contradicting accounts."""
    seen, parent = set(), ""
    for line in README.read_text().splitlines():
        if line.startswith("## "):
            parent = line
        if line.startswith(("## ", "### ")):
            key = line if line.startswith("## ") else (parent, line)
            assert key not in seen, f"README.md: {line!r} twice"
            seen.add(key)
