"""The project's structure holds: no import circle anywhere, the core in ``bot/`` free of Rasa and
web frameworks, and no debtor-facing text written in Python in the Rasa adapters (every text a
debtor reads is a domain response or in ``data/texts``, where ops can change and translate it)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from scripts.services import ROOT

PACKAGES = ("actions", "bot", "channels", "console", "policies", "stores", "scripts")
ADAPTERS = ("actions", "channels", "policies")
# calls whose string arguments are records for people operating the bot, not words for a debtor
RECORD_CALLS = {"log", "log_event", "log_contact", "record", "record_crisis", "audit_event", "_fail"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}
# calls whose text arguments reach a debtor
SINK_CALLS = {"utter_message", "send_text_message", "send_text_with_buttons", "send_turn", "send", "_gather"}


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path
    for path in sorted(ROOT.glob("*.py")):
        yield path.stem, path


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports, at any level of the file (local imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + [node.module])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def test_no_import_circles() -> None:
    modules = dict(_modules())
    graph = {m: _imports(m, p, set(modules)) for m, p in modules.items()}
    circles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_core_imports_neither_rasa_nor_web_frameworks() -> None:
    banned = ("rasa", "rasa_sdk", "sanic", "flask", "rasa_internals", "actions", "channels", "policies", "stores")
    offenders = []
    for module, path in _modules():
        if not module.startswith("bot"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            offenders += [f"{module}: {n}" for n in names if n.split(".")[0] in banned]
    assert not offenders, offenders


def _prose_words(text: str) -> list[str]:
    return [w for w in text.split() if any(c.isalpha() for c in w) and not set(w) & set("_%=")]


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _exempt(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """Inside a log call, a raise, a record for operators, an HTTP error answer or TwiML markup."""
    child: ast.AST = node
    while (parent := parents.get(id(child))) is not None:
        if isinstance(parent, ast.Raise):
            return True
        if isinstance(parent, ast.keyword) and parent.arg in ("detail", "status"):
            return True
        if isinstance(parent, ast.Dict):
            keys = [k.value for k in parent.keys if isinstance(k, ast.Constant)]
            if "error" in keys:
                return True
        if isinstance(parent, ast.Call):
            name = _call_name(parent)
            if name in RECORD_CALLS or (name in LOG_METHODS and isinstance(parent.func, ast.Attribute)):
                return True
            if name in ("text", "json") and any(k.arg == "status" for k in parent.keywords):
                return True  # response.text("... is required", status=400): for the API's caller
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return False
        child = parent
    return False


def _reaches_a_sink(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    child: ast.AST = node
    while (parent := parents.get(id(child))) is not None:
        if isinstance(parent, ast.Call) and _call_name(parent) in SINK_CALLS:
            return True
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign)):
            return False
        child = parent
    return False


def debtor_facing_literals(path: Path, root: Path = ROOT) -> list[str]:
    """String literals in ``path`` that read as words for a debtor: a sentence (capitalised, four
    words or more), an f-string with three words of prose, or any words passed to a call that
    sends to a debtor; docstrings and the exempt contexts of :func:`_exempt` aside."""
    tree = ast.parse(path.read_text())
    parents = {id(c): n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = " ".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            flagged = len(_prose_words(text)) >= 3
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if isinstance(parents.get(id(node)), ast.JoinedStr):
                continue
            text = node.value
            words = _prose_words(text)
            sentence = len(words) >= 4 and text.lstrip()[:1].isupper()
            flagged = sentence or (len(words) >= 2 and _reaches_a_sink(node, parents))
        else:
            continue
        if flagged and not text.lstrip().startswith("<") and not _exempt(node, parents):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {text[:80]!r}")
    return found


def test_no_debtor_facing_text_in_the_rasa_adapters() -> None:
    found = [
        hit
        for package in ADAPTERS
        for path in sorted((ROOT / package).rglob("*.py"))
        for hit in debtor_facing_literals(path)
    ]
    assert not found, "debtor-facing text belongs in bot/domain or data/texts:\n" + "\n".join(found)


def test_the_scan_finds_debtor_facing_text(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import logging\n"
        "logger = logging.getLogger(__name__)\n"
        'TRY_AGAIN = "Sorry, we cannot continue right now. Please try again."\n'
        "def describe(total, day):\n"
        '    """A docstring that is a sentence of many words."""\n'
        '    logger.error("Something failed for %s and nobody knows why", day)\n'
        '    return f"settle for {total} by {day}, saving money"\n'
        "async def reply(out, sender):\n"
        '    await out.send_text_message(sender, "please type again")\n'
        '    raise ValueError("This is an error for a developer")\n'
    )
    found = debtor_facing_literals(sample, root=tmp_path)
    assert [line.split(":")[1] for line in found] == ["3", "7", "9"]
