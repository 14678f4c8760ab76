"""Mutation testing for one module at a time: does the suite notice when the code is broken?

Each mutant is one small, single-site change made on the module's syntax tree — a comparison
flipped (``<`` → ``>=``, ``==`` → ``!=``, ``in`` → ``not in``), ``and`` ↔ ``or``, a ``not``
dropped, a constant changed (``True`` ↔ ``False``, a number off by one), ``+`` ↔ ``-``, a call
statement or a ``return`` value removed. The module's mapped test files then run against it
(``-x -q -p no:randomly``, a time limit per mutant): a failing or timed-out run *kills* the
mutant, a passing run lets it *survive* — a behaviour the tests would not notice breaking.

The mutant is written into a private copy of ``src/`` (``PYTHONPATH`` points there), never into
the working tree, so an interrupted run leaves nothing behind. Own mutator rather than mutmut or
cosmic-ray: those rewrite the source tree in place and run the whole suite by default; this one
needs nothing but the standard library and runs only the tests that belong to the module.

    python scripts/mutation.py src/enlarger/usage.py                 # every mutant, mapped tests
    python scripts/mutation.py src/enlarger/usage.py --sample 30     # a random sample (seeded)
    python scripts/mutation.py src/enlarger/pipeline.py --function _run_steps --tests tests/test_pipeline.py
    python scripts/mutation.py src/enlarger/usage.py --json out.json # survivors for review
    python scripts/mutation.py src/enlarger/usage.py --rerun out.json  # only out.json's survivors

Survivors are listed with their line and change: each is either a missing test or an
*equivalent* mutant (one no test could catch, e.g. a changed log message); docs/testing.md
records the per-module kill rates and which survivors were judged equivalent.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: module (relative to src/enlarger) → the test files that own its behaviour
MAPPING: dict[str, list[str]] = {
    "usage.py": ["tests/test_usage.py", "tests/test_usage_recorder.py", "tests/server/test_dashboard_documented.py"],
    "deadline.py": ["tests/test_deadline.py", "tests/test_deadline_steps.py", "tests/test_decode_cache.py"],
    "encode.py": ["tests/test_encode.py"],
    "server/libvips_log.py": ["tests/server/test_libvips_log.py"],
    "placeholders.py": ["tests/test_placeholders.py", "tests/test_placeholders_documented.py"],
    "quality_search.py": ["tests/test_quality_search.py", "tests/test_quality_search_documented.py"],
    "provenance.py": ["tests/test_provenance.py", "tests/server/test_provenance_http.py", "tests/test_c2pa_network.py"],
    "server/dashboard.py": [
        "tests/server/test_dashboard.py",
        "tests/server/test_dashboard_documented.py",
        "tests/server/test_dashboard_csrf.py",
    ],
    "catalog/store.py": ["tests/catalog/test_store.py"],
    "models/preload.py": ["tests/server/test_model_preload.py"],
    "importing/jobs.py": ["tests/importing/test_jobs.py"],
    "importing/runner.py": [
        "tests/importing/test_s3_import.py",
        "tests/importing/test_import_documented.py",
        "tests/importing/test_sources_api.py",
    ],
    "binding/api.py": [
        "tests/binding/test_api.py",
        "tests/binding/test_fonts.py",
        "tests/binding/test_hosted.py",
        "tests/binding/test_usage.py",
        "tests/server/test_binding_http.py",
        "tests/server/test_binding_documented.py",
    ],
}

_FLIPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BOUNDARY: dict[type[ast.cmpop], type[ast.cmpop]] = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
_ARITH: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
}
#: calls whose removal changes nothing a test should pin (logging, metrics of the log kind)
_QUIET_CALLS = ("logger.", "logging.", "warnings.")


@dataclass(frozen=True)
class Mutant:
    """One change: the ``index``-th site of its kind in the module, described for people."""

    index: int
    line: int
    change: str


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | survived | timeout | error
    seconds: float


def _is_docstring(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    grand = parents.get(parent) if parent is not None else None
    body = getattr(grand, "body", None)
    return isinstance(parent, ast.Expr) and isinstance(body, list) and bool(body) and body[0] is parent


def _in_annotation(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, (ast.AnnAssign, ast.arg)) and getattr(parent, "annotation", None) is child:
            return True
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and parent.returns is child:
            return True
        child, parent = parent, parents.get(parent)
    return False


def _sites(tree: ast.Module, functions: set[str]) -> Iterator[tuple[ast.AST, str, object]]:
    """Every (node, description, replacement spec) the mutator can change, in a stable order."""
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}

    def inside_chosen(node: ast.AST) -> bool:
        if not functions:
            return True
        current: ast.AST | None = node
        while current is not None:
            if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and current.name in functions:
                return True
            current = parents.get(current)
        return False

    for node in ast.walk(tree):
        if not inside_chosen(node) or _in_annotation(node, parents):
            continue
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                flipped = _FLIPS.get(type(op))
                if flipped is not None:
                    yield node, f"{type(op).__name__} → {flipped.__name__}", ("cmp", i, flipped)
                boundary = _BOUNDARY.get(type(op))
                if boundary is not None:
                    yield node, f"{type(op).__name__} → {boundary.__name__}", ("cmp", i, boundary)
        elif isinstance(node, ast.BoolOp):
            other = "or" if isinstance(node.op, ast.And) else "and"
            yield node, f"{'and' if other == 'or' else 'or'} → {other}", ("boolop",)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not dropped", ("not",)
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            yield node, f"{type(node.op).__name__} → {_ARITH[type(node.op)].__name__}", ("binop",)
        elif isinstance(node, ast.AugAssign) and type(node.op) in _ARITH:
            yield node, f"{type(node.op).__name__}= → {_ARITH[type(node.op)].__name__}=", ("augop",)
        elif isinstance(node, ast.Constant) and not _is_docstring(node, parents):
            value = node.value
            if isinstance(value, bool):
                yield node, f"{value} → {not value}", ("const", not value)
            elif isinstance(value, int):
                yield node, f"{value} → {value + 1}", ("const", value + 1)
            elif isinstance(value, float):
                yield node, f"{value} → {value * 2 if value else 1.0}", ("const", value * 2 if value else 1.0)
        elif isinstance(node, ast.Expr) and isinstance(node.value, (ast.Call, ast.Await)):
            text = ast.unparse(node.value)
            if not text.startswith(_QUIET_CALLS) and not text.startswith("await asyncio.sleep"):
                yield node, f"call removed: {text[:60]}", ("drop",)
        elif isinstance(node, ast.Return) and node.value is not None and ast.unparse(node.value) != "None":
            yield node, f"return value → None: {ast.unparse(node.value)[:50]}", ("return",)


def _apply(node: ast.AST, spec: tuple[object, ...]) -> None:
    kind = spec[0]
    if kind == "cmp":
        assert isinstance(node, ast.Compare)
        index, op = spec[1], spec[2]
        node.ops[index] = op()  # type: ignore[call-overload, operator]
    elif kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind in ("binop", "augop"):
        assert isinstance(node, (ast.BinOp, ast.AugAssign))
        node.op = _ARITH[type(node.op)]()
    elif kind == "const":
        assert isinstance(node, ast.Constant)
        node.value = spec[1]  # type: ignore[assignment]
    elif kind == "drop":
        assert isinstance(node, ast.Expr)
        node.value = ast.Constant(None)
    elif kind == "return":
        assert isinstance(node, ast.Return)
        node.value = ast.Constant(None)


def _replace(tree: ast.Module, old: ast.AST, new: ast.AST) -> None:
    """Put ``new`` where ``old`` is in its parent (a field or a list entry)."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list) and any(item is old for item in value):
                value[next(i for i, item in enumerate(value) if item is old)] = new
                return


def mutants(source: str, functions: set[str]) -> list[tuple[Mutant, str]]:
    """Every mutant of ``source`` (optionally only inside ``functions``) with its mutated text."""
    tree = ast.parse(source)
    found: list[tuple[Mutant, str]] = []
    count = sum(1 for _ in _sites(tree, functions))
    for index in range(count):
        fresh = copy.deepcopy(tree)
        node, change, spec = list(_sites(fresh, functions))[index]
        line = getattr(node, "lineno", 0)
        if spec == ("not",):
            assert isinstance(node, ast.UnaryOp)
            _replace(fresh, node, node.operand)
        else:
            _apply(node, spec)  # type: ignore[arg-type]
        text = ast.unparse(ast.fix_missing_locations(fresh))
        try:
            compile(text, "<mutant>", "exec")
        except SyntaxError:
            continue
        found.append((Mutant(index, line, change), text))
    return sorted(found, key=lambda pair: (pair[0].line, pair[0].index))


def _run(tests: list[str], pythonpath: Path, timeout: float, select: str = "") -> tuple[str, float]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    command += [f"--timeout={int(timeout)}", *(["-k", select] if select else []), *tests]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout + 30, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started
    seconds = time.monotonic() - started
    if done.returncode == 0:
        return "survived", seconds
    if "Timeout" in done.stdout and done.returncode != 1:
        return "timeout", seconds
    return ("killed" if done.returncode in (1, 2, 3) else "error"), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="the module to mutate, e.g. src/enlarger/usage.py")
    parser.add_argument("--tests", nargs="+", help="test files to run (default: the module's mapping)")
    parser.add_argument("--select", default="", help="only the tests matching this -k expression")
    parser.add_argument("--function", action="append", default=[], help="mutate only inside these defs")
    parser.add_argument("--sample", type=int, default=0, help="run a random sample of this many mutants")
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument("--timeout", type=float, default=120, help="seconds per mutant run")
    parser.add_argument("--json", type=Path, help="write every outcome here")
    parser.add_argument("--rerun", type=Path, help="run only the survivors listed in this earlier --json report")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args(argv)

    module = Path(args.module).resolve()
    relative = module.relative_to(ROOT / "src" / "enlarger").as_posix()
    tests = args.tests or MAPPING.get(relative)
    if not tests:
        parser.error(f"no tests mapped for {relative}: pass --tests")
    tests = [t for t in tests if (ROOT / t.split("::")[0]).exists()]
    source = module.read_text(encoding="utf-8")
    chosen = mutants(source, set(args.function))
    if args.rerun:
        earlier = json.loads(args.rerun.read_text(encoding="utf-8"))
        wanted = {o["mutant"]["index"] for o in earlier["outcomes"] if o["status"] == "survived"}
        chosen = [(m, text) for m, text in chosen if m.index in wanted]
    elif args.sample and args.sample < len(chosen):
        chosen = sorted(random.Random(args.seed).sample(chosen, args.sample), key=lambda pair: pair[0].index)
    if args.list:
        for mutant, _ in chosen:
            print(f"#{mutant.index:4d} line {mutant.line:4d}: {mutant.change}")
        return 0

    with tempfile.TemporaryDirectory(prefix="enlarger-mutation-") as scratch:
        copy_root = Path(scratch) / "src"
        shutil.copytree(ROOT / "src", copy_root, ignore=shutil.ignore_patterns("__pycache__"))
        target = copy_root / "enlarger" / relative
        status, seconds = _run(tests, copy_root, args.timeout, args.select)
        if status != "survived":
            print(f"the tests fail on the unmutated module ({status}): {' '.join(tests)}", file=sys.stderr)
            return 2
        print(f"{relative}: {len(chosen)} mutant(s), tests {' '.join(tests)} ({seconds:.0f} s unmutated)")
        outcomes: list[Outcome] = []
        try:
            for mutant, text in chosen:
                target.write_text(text, encoding="utf-8")
                status, seconds = _run(tests, copy_root, args.timeout, args.select)
                outcomes.append(Outcome(mutant, status, seconds))
                print(f"  #{mutant.index:4d} line {mutant.line:4d} {status:8s} {mutant.change}", flush=True)
        finally:
            target.write_text(source, encoding="utf-8")
    killed = sum(o.status in ("killed", "timeout") for o in outcomes)
    survivors = [o for o in outcomes if o.status == "survived"]
    rate = 100.0 * killed / len(outcomes) if outcomes else 100.0
    print(f"{relative}: killed {killed}/{len(outcomes)} ({rate:.0f} %), survived {len(survivors)}")
    for outcome in survivors:
        print(f"  survivor line {outcome.mutant.line}: {outcome.mutant.change}")
    if args.json:
        report = {"module": relative, "tests": tests, "killed": killed, "total": len(outcomes)}
        report["outcomes"] = [asdict(o) for o in outcomes]  # type: ignore[assignment]
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0 if not survivors else 1


if __name__ == "__main__":
    sys.exit(main())
