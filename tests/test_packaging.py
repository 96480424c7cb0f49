"""The environment files agree, the commands exist, generated folders are ignored."""
import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib  # Python 3.11+
except ImportError:  # Python 3.10 (still supported by pyproject)
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda package name -> PyPI name


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return dict(_split(r) for r in reqs)


def _environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = _split(dep)
            if name in ("python", "pip"):
                continue
            out[CONDA_NAMES.get(name, name)] = spec
    return out


def test_environment_yml_declares_the_same_packages_and_ranges_as_pyproject():
    assert _environment() == _pyproject()


def test_environment_yml_installs_the_package_with_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_sections and "-e ." in pip_sections[0]


def test_pinned_torch_pair_satisfies_declared_ranges():
    from packaging.specifiers import SpecifierSet

    declared = _pyproject()
    makefile = (ROOT / "Makefile").read_text()
    pins = dict(re.findall(r"(torch|torchvision)==([0-9.]+)", makefile))
    assert pins == {"torch": "2.14.1", "torchvision": "0.29.1"}
    for name, version in pins.items():
        assert version in SpecifierSet(declared[name]), (name, version, declared[name])


def test_makefile_has_the_documented_targets_and_creates_the_venv():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "report", "lab", "bench", "strip"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "-m venv" in makefile and 'pip install --quiet -e ".[test]"' in makefile


def test_ci_runs_the_unit_tests_under_both_instruction_set_settings_and_the_notebooks_capped():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci
    for step in ("make unit\n", "make unit ISA=avx2", "make nbtest ISA=avx2"):
        assert step in ci, step


def test_generated_folders_are_git_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in (".venv/", "data/*", "reports/", "checkpoints/", "figures/*"):
        assert entry in ignored, entry


def test_readme_explains_the_two_commands_profiles_and_offline_use():
    readme = (ROOT / "README.md").read_text()
    for needle in ("make report", "make test", "PROFILE=full", "smoke", "stand-in", "offline"):
        assert needle in readme, needle
