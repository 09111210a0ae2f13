"""Python a small model wrote, made runnable before it reaches the sandbox: pure functions.

Small models writing code inside a JSON argument make a few mechanical mistakes again and
again; each repair below fixes one of them and is kept only when the result parses:

    escape_newlines_in_strings(code)  "\\n" decoded into a real line break inside a string
    split_semicolons(code)            `import json; with open(...)`: a compound statement
                                      after a semicolon is not Python
    close_open_ends(code)             code that stops inside a string or with brackets open
    add_missing_imports(code)         `math.factorial(12)` without `import math`
    finish_code(arguments)            all of the above, then the REPL rule: a result the
                                      code computes but never prints is printed

Anything still broken is left as written: the sandbox reports the error, and the turn's
repair round (see `agent_loop.repair_messages`) shows it to the model.
"""

from __future__ import annotations

import ast
import builtins
import io
import sys
import tokenize
from typing import Any


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _scan(code: str) -> tuple[str, str | None, list[str]]:
    """`code` with line breaks inside one-line string literals written as \\n, the quote
    still open at the end (or None), and the brackets still open outside strings."""
    out: list[str] = []
    quote: str | None = None
    brackets: list[str] = []
    chars = iter(code)
    for ch in chars:
        piece = ch
        if quote is None and ch in "'\"" and "".join(out[-2:]) != ch * 2:
            quote = ch
        elif quote is None and ch in _CLOSERS:
            brackets.append(ch)
        elif quote is None and ch in _CLOSERS.values() and brackets:
            brackets.pop()
        elif quote is not None and ch == "\\":
            piece = ch + next(chars, "")  # an escape: keep it and the character it escapes
        elif quote is not None and ch == quote:
            quote = None
        elif quote is not None and ch == "\n":
            piece = "\\n"
        out.append(piece)
    return "".join(out), quote, brackets


def escape_newlines_in_strings(code: str) -> str:
    """`code` with line breaks inside one-line string literals written as \\n, when that
    makes it valid Python (a small model writing JSON often emits "\\n" where it meant a
    backslash-n inside a Python string); else `code` unchanged."""
    repaired, _, _ = _scan(code)
    return repaired if _parses(repaired) else code


def close_open_ends(code: str) -> str:
    """`code` that stops inside a string or with brackets open (the model ended its JSON
    early), closed: the string's quote, then each open bracket; kept only if it parses."""
    repaired, quote, brackets = _scan(code)
    ending = (quote or "") + "".join(_CLOSERS[b] for b in reversed(brackets))
    if not ending:
        return code
    closed = repaired.rstrip("\n") + ending
    return closed if _parses(closed) else code


def _semicolons(code: str) -> list[tuple[int, int]]:
    """(row, col) of every `;` operator token, last first; [] when the code cannot be
    tokenized."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    found = [t.start for t in tokens if t.type == tokenize.OP and t.string == ";"]
    return sorted(found, reverse=True)


def split_semicolons(code: str) -> str:
    """`code` with each `;` statement separator turned into a line break at the same
    indentation, when that makes it valid Python; else `code` unchanged."""
    lines = code.split("\n")
    places = _semicolons(code)
    if not places:
        return code
    for row, col in places:
        line = lines[row - 1]
        indent = line[: len(line) - len(line.lstrip())]
        lines[row - 1] = f"{line[:col].rstrip()}\n{indent}{line[col + 1 :].lstrip()}"
    repaired = "\n".join(lines)
    return repaired if _parses(repaired) else code


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere: assignments, imports, defs, arguments."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


def add_missing_imports(code: str) -> str:
    """`code` with `import m` prepended for each standard-library module it uses as
    `m.attribute` but never imports or binds."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    used = {
        node.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and isinstance(node.value.ctx, ast.Load)
    }
    missing = used - _bound_names(tree) - set(dir(builtins))
    modules = sorted(name for name in missing if name in sys.stdlib_module_names)
    if not modules:
        return code
    return "".join(f"import {name}\n" for name in modules) + code


def repair_python(code: str) -> str:
    """`code` made to parse when one of the known slips broke it (the first repair, or
    pair of repairs, that works), with its missing standard-library imports added."""
    if not _parses(code):
        for candidate in (
            escape_newlines_in_strings(code),
            split_semicolons(code),
            split_semicolons(escape_newlines_in_strings(code)),
            close_open_ends(code),
        ):
            if candidate != code:
                code = candidate
                break
    return add_missing_imports(code)


def _print_result(code: str) -> str:
    """Python that would print nothing gets its result printed, as a REPL does."""
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return code
    last = body[-1] if body else None
    if isinstance(last, ast.Expr):
        lines = code.rstrip().splitlines()
        head, tail = lines[: last.lineno - 1], "\n".join(lines[last.lineno - 1 :])
        shown = f"_ = ({tail.strip()})\nif _ is not None:\n    print(_)"
        return "\n".join([*head, shown])
    if isinstance(last, ast.Assign) and len(last.targets) == 1:
        target = last.targets[0]
        if isinstance(target, ast.Name):
            return f"{code.rstrip()}\nprint({target.id})"
    return code


def finish_code(arguments: dict[str, Any]) -> dict[str, Any]:
    """code_execution arguments made ready to run: Python repaired (`repair_python`), and
    a final expression's value or a final `name = ...` printed when nothing else prints.
    Small models often compute the answer and never print it."""
    code = arguments.get("code")
    if arguments.get("language") != "python" or not isinstance(code, str):
        return arguments
    code = repair_python(code)
    if "print(" not in code:
        code = _print_result(code)
    return {**arguments, "code": code}
