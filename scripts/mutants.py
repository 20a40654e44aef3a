#!/usr/bin/env python3
"""Mutation testing of the pure core with mutmut: run, then a report per module.

Run with ``nox -s mutants`` (every module of ``MODULES``) or, while working on one
module, ``nox -s mutants -- akops/cluster/plan.py`` (a file or a folder of ``MODULES``).
``python scripts/mutants.py --report`` prints the report of the last run without
running anything.

mutmut (3.8) runs each mutant against only the tests that called the mutated function
(it records them in a first, traced run of the unit tests), in processes forked from
one that imported everything already, and keeps every result under ``mutants/``. A run
asks it for the pending mutants of the modules named: those not run yet (new, or their
function changed since) and those no test killed last time (a test added since may);
killed ones keep their result. Delete ``mutants/`` to start from scratch.

Two more project-side pieces, kept small, each for a gap of mutmut's: ``fresh_copies``
(mutmut never re-copies a file it copied once, so after a rebase its copies of the
tests and of unmutated modules would be stale), and ``tests/mutation/fastest_first.py``
(a pytest plugin for mutation runs: quickest tests first, so a killed mutant stops
sooner; mutmut passes the tests in no particular order).

The main project-side piece: mutmut skips every decorated function (a
decorator could register each generated copy of the function a second time). The lint
rules are all ``@rule``-decorated, and the model's ``@property`` are plain code too.
``allow_decorated`` lets mutmut mutate functions whose decorators are only
``property`` or a call of ``rule(...)`` (which registers the function it is given and
returns it): the trampoline keeps the decorators, the generated copies lose them, so the
rule is registered once and a property stays a property. Decorator arguments (a rule's
ID and catalogue text) are still never mutated.

The report counts, per module: mutants, killed (a test failed, or the run timed out),
survived (every test passed, or no test ran the function), equivalent (listed in
``tests/mutation/equivalent.toml`` with the reason they change no behaviour), and the
score killed / (mutants - equivalent). Survivors are listed as ``file:line`` with the
mutated line. Exit 1 when a module scores under ``--floor`` (default 90 %).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "tests" / "mutation" / "equivalent.toml"
REPORT = ROOT / "reports" / "mutants.json"
#: The files the child mutmut mutates (JSON list), from the parent.
ONLY = "AKOPS_MUTANTS_ONLY"
#: How many mutants the child runs at once.
CHILDREN = "AKOPS_MUTANTS_CHILDREN"

LINT = "tests/unit/lint"
RULES = f"{LINT}/test_lint_rules.py"  # every rule on the prod stack, one field broken at a time


def rules_tests(*prefixes: str) -> tuple[str, ...]:
    """The tests of ``RULES`` about one module's rules (each lints the whole prod stack, so
    every one of them calls every rule; only these judge the module)."""
    return tuple(f"{RULES}::test_{p}" for p in prefixes)


#: The modules held to the floor (a file, or a folder: each module in it), each with the
#: unit tests that judge it (a test file, or a node-ID prefix such as ``file::test_pdb``):
#: a mutant runs those of them that call the mutated function.
MODULES: dict[str, tuple[str, ...]] = {
    "akops/cluster/plan.py": ("tests/unit/cluster",),
    "akops/cluster/saved_plan.py": ("tests/unit/cluster",),
    "akops/secrets.py": ("tests/unit/foundation", "tests/unit/cluster", "tests/unit/runbook"),
    "akops/runbook/masking.py": ("tests/unit/runbook",),
    "akops/alerts/rules.py": ("tests/unit/alerts", f"{LINT}/test_lint_alert_rules.py"),
    "akops/lint/rules": (LINT,),  # a rule module not named below: every lint test
    "akops/lint/rules/replicas.py": (
        *rules_tests("replicas", "pdb", "spread"),
        f"{LINT}/test_lint_budgets.py",
    ),
    "akops/lint/rules/containers.py": (
        *rules_tests("resources", "outpost_patch", "probes", "liveness", "image"),
        f"{LINT}/test_lint_containers.py",
    ),
    "akops/lint/rules/secrets.py": (
        *rules_tests("secret", "a_config_checksum"),
        f"{LINT}/test_lint_secret_rules.py",
    ),
    "akops/lint/rules/security.py": (
        f"{LINT}/test_lint_security.py",
        f"{LINT}/test_lint_security_edges.py",
        f"{LINT}/test_lint_security_lookups.py",
    ),
    "akops/lint/rules/alerts.py": (
        f"{LINT}/test_lint_alert_rules.py",
        "tests/unit/alerts/test_alerts_lint.py",
        "tests/unit/alerts/test_alerts_reload.py",
    ),
    "akops/lint/rules/authentik.py": (
        *rules_tests(
            "values", "inert", "authentik", "version", "an_unknown_chart", "renamed", "gunicorn"
        ),
        f"{LINT}/test_lint_authentik_rules.py",
    ),
    "akops/lint/rules/database.py": (
        *rules_tests("persistent", "capacity"),
        f"{LINT}/test_lint_database_rules.py",
    ),
    "akops/lint/rules/pgbouncer.py": (
        *rules_tests("pgbouncer", "a_bare_ini"),
        f"{LINT}/test_lint_pgbouncer_rules.py",
        f"{LINT}/test_pgbouncer_ini.py",
    ),
    "akops/lint/rules/images.py": (
        f"{LINT}/test_lint_image_digest.py",
        f"{LINT}/test_lint_outpost_images.py",
    ),
    "akops/lint/rules/outpost.py": (
        *rules_tests("outpost_shm"),
        f"{LINT}/test_lint_outpost_images.py",
    ),
    "akops/lint/rules/netpol.py": (
        f"{LINT}/test_lint_reach.py",
        f"{LINT}/test_lint_netpol_findings.py",
    ),
    "akops/verify/checks": ("tests/unit/verify",),
}
#: The tests each mutant's module is judged by, for tests/mutation/fastest_first.py (JSON).
TESTS = "AKOPS_MUTANTS_TESTS"
#: Run every mutant of the modules asked, not only the pending ones ("1").
AGAIN = "AKOPS_MUTANTS_AGAIN"
#: Decorators that register the function they are given and return it unchanged.
REGISTERING = frozenset({"rule"})
KILLED = frozenset({"killed", "timeout", "caught by type check", "segfault"})


def allow_decorated() -> None:
    """Let mutmut mutate functions decorated only with ``property`` or ``rule(...)``."""
    import libcst as cst
    from mutmut.mutation import file_mutation as fm

    def plain(decorator: cst.Decorator) -> bool:
        d = decorator.decorator
        if isinstance(d, cst.Name):
            return d.value == "property"
        return (
            isinstance(d, cst.Call) and isinstance(d.func, cst.Name) and d.func.value in REGISTERING
        )

    def ours(node: cst.CSTNode) -> bool:
        return (
            isinstance(node, cst.FunctionDef)
            and bool(node.decorators)
            and all(plain(d) for d in node.decorators)
        )

    skip = fm.MutationVisitor._skip_node_and_children

    def skip_node_and_children(self: fm.MutationVisitor, node: cst.CSTNode) -> bool:
        return False if ours(node) else skip(self, node)

    arrange = fm.function_trampoline_arrangement

    def arrangement(function, mutants, class_name):  # type: ignore[no-untyped-def]
        declarations, nodes, assignments, names = arrange(function, mutants, class_name)
        if ours(function):
            # nodes[0] is the trampoline (decorated); the copies are called through it.
            nodes = [nodes[0], *(n.with_changes(decorators=[]) for n in nodes[1:])]
        return declarations, nodes, assignments, names

    fm.MutationVisitor._skip_node_and_children = skip_node_and_children  # type: ignore[method-assign]
    fm.function_trampoline_arrangement = arrangement


def module_files(selection: list[str]) -> list[Path]:
    """The ``.py`` files of ``selection`` (each a file or folder of ``MODULES``)."""
    files: list[Path] = []
    for item in selection:
        path = ROOT / item
        if not any(item == m or item.startswith(m.rstrip("/") + "/") for m in MODULES):
            raise SystemExit(
                f"mutants: {item} is not one of the modules held to the floor: "
                f"{', '.join(m for m in MODULES if not m.startswith('akops/lint/rules/'))}"
            )
        if path.is_dir():
            files += sorted(p for p in path.glob("*.py") if p.name != "__init__.py")
        elif path.is_file():
            files.append(path)
        else:
            raise SystemExit(f"mutants: {item}: no such file or folder")
    return sorted(set(files))


def judges(path: Path) -> tuple[str, ...]:
    """The tests that judge the module at ``path``: its own entry, else its folder's."""
    rel = path.relative_to(ROOT).as_posix()
    return MODULES.get(rel) or MODULES[path.relative_to(ROOT).parent.as_posix()]


def dotted(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")


@dataclass(frozen=True)
class Equivalent:
    module: str
    function: str
    line: str
    why: str


def equivalents() -> list[Equivalent]:
    """The listed equivalent mutants: module, function, the mutated line as mutmut shows it."""
    if not EQUIVALENT.exists():
        return []
    data = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8"))
    out = []
    for i, e in enumerate(data.get("mutant", [])):
        missing = {"module", "function", "line", "why"} - set(e)
        if missing:
            raise SystemExit(
                f"{EQUIVALENT.relative_to(ROOT)}: mutant #{i + 1} lacks {sorted(missing)}"
            )
        out.append(Equivalent(e["module"], e["function"], e["line"].strip(), e["why"]))
    return out


@dataclass
class Survivor:
    name: str
    function: str
    line: int
    before: str
    after: str
    status: str


@dataclass
class ModuleReport:
    module: str
    path: str
    total: int = 0
    killed: int = 0
    equivalent: int = 0
    survivors: list[Survivor] = field(default_factory=list)
    unmatched: list[Equivalent] = field(default_factory=list)

    @property
    def score(self) -> float:
        counted = self.total - self.equivalent
        return 100.0 if counted == 0 else 100.0 * self.killed / counted


def function_of(mutant: str) -> str:
    """``akops.x.y.xǁClassǁmethod__mutmut_3`` → ``Class.method``; ``x_name__mutmut_1`` → ``name``."""
    name = mutant.rpartition(".")[2].rpartition("__mutmut_")[0]
    if name.startswith("xǁ"):
        return name[2:].replace("ǁ", ".")
    return name[2:] if name.startswith("x_") else name


def _functions(source: str) -> dict[str, tuple[int, int]]:
    """Qualified function name → (first line incl. decorators, last line)."""
    out: dict[str, tuple[int, int]] = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                out[prefix + node.name] = (first, node.end_lineno or node.lineno)
            elif isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}{node.name}.")

    walk(ast.parse(source).body, "")
    return out


def _changed_lines(diff: str) -> tuple[int, str, str]:
    """(offset of the first changed line in the function, its text before, after)."""
    offset, before, after, line = 0, "", "", 0
    for row in diff.splitlines():
        hunk = re.match(r"@@ -(\d+)", row)
        if hunk:
            line = int(hunk.group(1)) - 1
            continue
        if row.startswith(("---", "+++")):
            continue
        if row.startswith("-"):
            if not before:
                before, offset = row[1:], line
            line += 1
        elif row.startswith("+"):
            after = after or row[1:]
        elif row.startswith(" "):
            line += 1
    return offset, before, after


def report(files: list[Path]) -> list[ModuleReport]:
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    listed = equivalents()
    used: set[int] = set()
    reports = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        module = dotted(path)
        rep = ModuleReport(module, rel)
        data = SourceFileMutationData(path=rel)
        data.load()
        source = path.read_text(encoding="utf-8")
        spans = _functions(source)
        lines = source.splitlines()
        for name, code in sorted(data.exit_code_by_key.items(), key=lambda kv: _order(kv[0])):
            status = status_by_exit_code[code]
            if status == "skipped":
                continue
            rep.total += 1
            if status in KILLED:
                rep.killed += 1
                continue
            function = function_of(name)
            if status == "not checked":  # not run yet: no need to read its code
                first = spans.get(function, (0, 0))[0]
                rep.survivors.append(Survivor(name, function, first, "(not run yet)", "", status))
                continue
            try:
                offset, before, after = _changed_lines(get_diff_for_mutant(name, path=rel))
            except (FileNotFoundError, ValueError):  # mutants/ older than the results
                offset, before, after = 0, "(the mutant's code is gone: run again)", ""
            first, last = spans.get(function, (1, len(lines)))
            line = _locate(lines, first, last, offset, before)
            match = next(
                (
                    i
                    for i, e in enumerate(listed)
                    if e.module == module and e.function == function and e.line == after.strip()
                ),
                None,
            )
            if match is not None:
                rep.equivalent += 1
                used.add(match)
                continue
            rep.survivors.append(
                Survivor(name, function, line, before.strip(), after.strip(), status)
            )
        reports.append(rep)
    checked = {dotted(p) for p in files}
    for i, e in enumerate(listed):
        if i not in used and e.module in checked:
            for rep in reports:
                if rep.module == e.module:
                    rep.unmatched.append(e)
    return reports


def _order(name: str) -> tuple[str, int]:
    base, _, n = name.rpartition("__mutmut_")
    return base, int(n) if n.isdigit() else 0


def _locate(lines: list[str], first: int, last: int, offset: int, before: str) -> int:
    """The source line the mutant changed: ``before`` nearest the diff's offset in the function."""
    guess = first + offset
    found = [n for n in range(first, last + 1) if lines[n - 1].strip() == before.strip()]
    return min(found, key=lambda n: abs(n - guess)) if found else guess


def print_reports(reports: list[ModuleReport], floor: float) -> bool:
    ok = True
    width = max((len(r.path) for r in reports), default=10)
    print(f"\n{'module':<{width}}  mutants  killed  survived  equivalent  score")
    for r in reports:
        mark = "" if r.score >= floor else f"  < {floor:g} %"
        ok = ok and r.score >= floor
        print(
            f"{r.path:<{width}}  {r.total:>7}  {r.killed:>6}  {len(r.survivors):>8}  "
            f"{r.equivalent:>10}  {r.score:5.1f} %{mark}"
        )
    for r in reports:
        for s in r.survivors:
            what = "no test ran it" if s.status == "no tests" else s.status
            print(f"{r.path}:{s.line}: {what} ({s.name}): {s.before}  →  {s.after}")
        for e in r.unmatched:
            print(
                f"{EQUIVALENT.relative_to(ROOT)}: no surviving mutant of {e.module} "
                f"{e.function} reads {e.line!r} any more: remove the entry"
            )
    return ok


def write_json(reports: list[ModuleReport]) -> None:
    REPORT.parent.mkdir(exist_ok=True)
    doc = [
        {
            "module": r.path,
            "mutants": r.total,
            "killed": r.killed,
            "survived": len(r.survivors),
            "equivalent": r.equivalent,
            "score": round(r.score, 1),
            "survivors": [
                {
                    "at": f"{r.path}:{s.line}",
                    "mutant": s.name,
                    "before": s.before,
                    "after": s.after,
                    "status": s.status,
                }
                for s in r.survivors
            ],
        }
        for r in reports
    ]
    tmp = REPORT.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(REPORT)


def fresh_copies() -> None:
    """Drop copies in ``mutants/`` that would mislead mutmut: the test suite (it adds
    files, never removes one), source files that no longer match the tree (it never
    re-copies a file it copied once) and unmutated copies of mutated modules."""
    shutil.rmtree(ROOT / "mutants" / "tests", ignore_errors=True)
    copies = ROOT / "mutants" / "akops"
    mutated = {p.relative_to(ROOT) for p in module_files(list(MODULES))}
    for copy in copies.rglob("*.py") if copies.is_dir() else ():
        rel = copy.relative_to(ROOT / "mutants")
        source = ROOT / rel
        if rel in mutated:
            # mutmut regenerates it when the source is newer, but a plain copy (made before
            # the module was held to the floor) would stay: its tests would trace nothing.
            text = copy.read_text(encoding="utf-8")
            if "__mutmut_" not in text and re.search(r"^\s*(async )?def ", text, re.M):
                copy.unlink()
            continue
        if not source.exists() or source.read_bytes() != copy.read_bytes():
            copy.unlink()


STATS = ROOT / "mutants" / "mutmut-stats.json"
#: sha256 of each test file when mutmut last traced its tests (ours, beside mutmut's stats).
TRACED = ROOT / "mutants" / "akops-traced-tests.json"


def retrace_changed_tests() -> None:
    """Make mutmut trace again the tests of every test file changed since it traced them.

    mutmut traces a test once, when it first sees its name: a test edited since (a new
    case under an old id, a call it did not make before) keeps its old map of the
    functions it calls, and a mutant of a function it now calls would not run it. The
    tests of a changed file are dropped from mutmut's stats, so it takes them for new;
    a changed ``conftest.py`` drops them all (mutmut then traces every test).
    """
    import hashlib

    digests = {
        p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((ROOT / "tests").rglob("*.py"))
    }
    old = json.loads(TRACED.read_text(encoding="utf-8")) if TRACED.exists() else {}
    changed = {f for f, d in digests.items() if old.get(f) != d}
    if STATS.exists() and changed:
        if not old or any(Path(f).name == "conftest.py" for f in changed):
            STATS.unlink()
        else:
            stats = json.loads(STATS.read_text(encoding="utf-8"))

            def stale(test: str) -> bool:
                return test.partition("::")[0] in changed

            durations = stats.get("duration_by_test", {})
            stats["duration_by_test"] = {t: d for t, d in durations.items() if not stale(t)}
            by_function = stats.get("tests_by_mangled_function_name", {})
            stats["tests_by_mangled_function_name"] = {
                f: [t for t in tests if not stale(t)] for f, tests in by_function.items()
            }
            tmp = STATS.with_suffix(".tmp")
            tmp.write_text(json.dumps(stats), encoding="utf-8")
            tmp.replace(STATS)
    TRACED.parent.mkdir(exist_ok=True)
    tmp = TRACED.with_suffix(".tmp")
    tmp.write_text(json.dumps(digests, indent=0), encoding="utf-8")
    tmp.replace(TRACED)


def pending(files: list[Path], everything: bool = False) -> list[str]:
    """Mutants of ``files`` to run: not run yet (new, or their function changed), or not
    killed last time (a test added since may kill them), but for listed equivalents;
    ``everything``: all of them."""
    from mutmut.mutation.data import SourceFileMutationData

    names = []
    for path in files:
        data = SourceFileMutationData(path=path.relative_to(ROOT).as_posix())
        data.load()
        names += [n for n, code in data.exit_code_by_key.items() if everything or code is None]
    names += [s.name for r in report(files) for s in r.survivors if s.status != "not checked"]
    return sorted(set(names))


_RESULT_LINE = re.compile(r"^\S+ akops\.")


def mutmut(files: list[Path], max_children: int | None, again: bool) -> int:
    """Run the pending mutants of ``files`` in a child process (``as_mutmut``)."""
    env = {
        **os.environ,
        ONLY: json.dumps([f.relative_to(ROOT).as_posix() for f in files]),
        CHILDREN: str(max_children or os.cpu_count() or 2),
        AGAIN: "1" if again else "",
        TESTS: json.dumps({dotted(f): judges(f) for f in module_files(list(MODULES))}),
    }
    child = subprocess.Popen(
        [sys.executable, __file__, "--mutmut"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, text=True, errors="replace",
    )  # fmt: skip
    assert child.stdout is not None
    for line in child.stdout:  # mutmut's per-mutant list repeats what the report says
        if not _RESULT_LINE.match(line):
            sys.stdout.write(line)
            sys.stdout.flush()
    return child.wait()


def as_mutmut() -> int:
    """The child: mutmut with ``allow_decorated``, on the pending mutants of the files asked.

    Every module of ``MODULES`` is mutated (``[tool.mutmut] only_mutate``), so the traced
    run that maps tests to functions covers them all, whichever module a run asks for;
    only the pending mutants of the files asked are run (mutmut runs the ones it is
    named, and keeps every other result).
    """
    import contextlib
    import io

    allow_decorated()
    from mutmut.__main__ import cli, create_mutants
    from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir

    files = [ROOT / f for f in json.loads(os.environ[ONLY])]
    children = os.environ[CHILDREN]
    (ROOT / "mutants").mkdir(exist_ok=True)
    print("mutants: generating the mutants of changed modules", flush=True)
    with contextlib.redirect_stdout(io.StringIO()):
        copy_src_dir()
        copy_also_copy_files()
        create_mutants(int(children))
    names = pending(files, everything=os.environ.get(AGAIN) == "1")
    if not names:
        print("mutants: nothing to run (no module or test changed since the last run)")
        return 0
    print(f"mutants: running {len(names)} mutants (new, changed or not killed last time)")
    try:
        cli.main(["run", "--max-children", children, *names], standalone_mode=False)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.chdir(ROOT)
    if argv[:1] == ["--mutmut"]:
        return as_mutmut()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="files or folders of MODULES (default: all)")
    parser.add_argument("--report", action="store_true", help="only print the last run's report")
    parser.add_argument("--floor", type=float, default=90.0, help="lowest score per module (%%)")
    parser.add_argument(
        "--max-children",
        type=int,
        default=None,
        help="mutants run at once (default: the CPU count)",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="run every mutant of the modules again, killed ones too (after changing tests)",
    )
    args = parser.parse_args(argv)
    files = module_files(args.modules or list(MODULES))
    if not args.report:
        fresh_copies()
        retrace_changed_tests()
        code = mutmut(files, args.max_children, args.again)
        if code != 0:
            return code
    reports = report(files)
    write_json(reports)
    return 0 if print_reports(reports, args.floor) else 1


if __name__ == "__main__":
    sys.exit(main())
