"""dvc.yaml and gencurate.config.paths name the same files (paths are named once in params.yaml;
the per-item layouts are mirrored in dvc.yaml and must not drift)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gencurate.config import load_params


@pytest.fixture(scope="module")
def stages(repo_root):
    from dvc.repo import Repo

    with Repo(str(repo_root)) as repo:
        return {
            s.addressing: (
                {str(Path(d.def_path)) for d in s.deps},
                {str(Path(o.def_path)) for o in s.outs},
            )
            for s in repo.index.stages
        }


def test_matrix_items_are_the_study(stages, repo_root):
    params = load_params(repo_root / "params.yaml")
    # One train, sample and evaluate stage per method: each runs every seed (`concurrent_seeds` at a time).
    for stage in ("train", "sample", "evaluate"):
        assert {k.split("@", 1)[1] for k in stages if k.startswith(f"{stage}@")} == set(params.study.methods)


def test_outputs_match_paths_config(stages, repo_root):
    params = load_params(repo_root / "params.yaml")
    paths = params.paths
    assert stages["prepare"][1] == {paths.prepared, paths.dataset_card}
    for role in ("selection", "evaluation"):
        assert stages[f"embed@{role}"][1] == {str(paths.embedding(role)), str(paths.embedding_meta(role))}
    assert stages["select"][1] == {paths.selections, paths.selection_report}
    assert stages["independence"][1] == {paths.independence}
    assert {paths.metric_details, paths.independence} <= stages["compare"][0]
    for m in params.study.methods:
        train_outs = stages[f"train@{m}"][1]
        assert str(paths.selection(m)) in stages[f"train@{m}"][0]
        assert str(paths.images) in stages[f"train@{m}"][0]
        for s in params.study.seeds:
            # Each seed's model and log directory lies in one of its method's train outputs.
            for run_dir in (paths.model_dir(m, s), paths.train_log_dir(m, s)):
                assert any(run_dir.parent == Path(out) for out in train_outs), (run_dir, train_outs)
            assert stages[f"sample@{m}"][1] == {str(paths.samples_dir(m, s).parent)}
            assert str(paths.model_dir(m, s).parent) in stages[f"sample@{m}"][0]
            assert stages[f"evaluate@{m}"][1] == {str(paths.metrics_file(m, s).parent),
                                                  str(paths.metric_details_dir(m, s).parent)}
            assert str(paths.samples_dir(m, s).parent) in stages[f"evaluate@{m}"][0]


def test_stage_deps_cover_the_modules_they_import(stages):
    """An edit to a module a stage imports must rerun that stage."""
    needs = {
        "prepare": ["src/gencurate/data", "src/gencurate/stages/prepare.py"],
        "embed@selection": ["src/gencurate/encoders", "src/gencurate/stages/embed.py"],
        "select": ["src/gencurate/selection", "src/gencurate/stages/select.py"],
        "compare": ["src/gencurate/report", "src/gencurate/stages/compare.py"],
    }
    for stage, paths in needs.items():
        for p in paths:
            assert p in stages[stage][0], f"{stage} does not depend on {p}"
    for name, (deps, _) in stages.items():
        if "@" in name and name.split("@")[0] in ("train", "sample"):
            assert "src/gencurate/diffusion" in deps
        assert "src/gencurate/config" in deps, f"{name} does not depend on src/gencurate/config"


def _imported_modules(path: Path, package_root: Path) -> set[Path]:
    """Files of gencurate a module imports, transitively (static `import`/`from` statements)."""
    import ast

    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for node in ast.walk(ast.parse(current.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if not name.startswith("gencurate"):
                    continue
                base = package_root.joinpath(*name.split(".")[1:])
                for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                    if candidate.is_file():
                        todo.append(candidate)
    return seen


def test_stage_deps_cover_every_imported_module(stages, repo_root):
    """Editing any module a stage imports (directly or not) must make DVC rerun that stage."""
    package_root = repo_root / "src" / "gencurate"
    for address, (deps, _) in stages.items():
        stage = address.split("@")[0]
        module = package_root / "stages" / f"{stage}.py"
        for imported in _imported_modules(module, package_root):
            rel = imported.relative_to(repo_root)
            if rel.name == "__init__.py" and rel.parent == Path("src/gencurate"):
                continue  # the version string only
            if rel.parent == Path("src/gencurate/stages") and rel.name == "__init__.py":
                continue
            covered = any(rel == Path(d) or Path(d) in rel.parents for d in deps)
            assert covered, f"{address} imports {rel} but does not list it in its dvc.yaml deps"
