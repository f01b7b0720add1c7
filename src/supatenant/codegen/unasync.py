"""Generate ``supatenant._sync`` from ``supatenant._async``: the API is written once.

Token by token: ``async``/``await`` go, and async names become their sync twins
(``AsyncStore`` → ``Store``, ``asynccontextmanager`` → ``contextmanager``, ...). Comments
and layout survive; ``ruff format`` tidies the result. ``--check`` writes nothing and exits
1 when a committed file differs, which CI runs.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
SOURCE = PACKAGE / "_async"
TARGET = PACKAGE / "_sync"

HEADER = "# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.\n"

# names whose sync twin is not the name without "Async"
_RENAMES = {
    "_async": "_sync",
    "AsyncIterator": "Iterator",
    "AsyncRestClient": "SyncRestClient",
    "AsyncPostgrestClient": "SyncPostgrestClient",
    "AsyncSupabaseClient": "SupabaseClient",
    "AsyncClient": "Client",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "asynccontextmanager": "contextmanager",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "aclose": "close",
    "enter_async_context": "enter_context",
}


def _rename(name: str) -> str:
    if name in _RENAMES:
        return _RENAMES[name]
    if name.startswith("Async") and name[5:6].isupper():
        return name[5:]
    return name


def convert(source: str) -> str:
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    edits: list[tuple[int, int, str]] = []
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME:
            continue
        start = offsets[tok.start[0] - 1] + tok.start[1]
        end = offsets[tok.end[0] - 1] + tok.end[1]
        if tok.string in ("async", "await"):
            following = tokens[i + 1]
            end = offsets[following.start[0] - 1] + following.start[1]
            edits.append((start, end, ""))
        elif (renamed := _rename(tok.string)) != tok.string:
            edits.append((start, end, renamed))
    text = source
    for start, end, replacement in reversed(edits):
        text = text[:start] + replacement + text[end:]
    return HEADER + text


def _format(paths: list[Path]) -> None:
    # the project's own ruff settings, though the files sit in a scratch folder
    config = ["--config", str(PACKAGE.parents[1] / "pyproject.toml"), "--quiet"]
    files = [str(p) for p in paths]
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run([*ruff, "check", *config, "--fix-only", "--select", "I,F401", *files], check=True)
    subprocess.run([*ruff, "format", *config, *files], check=True)


def render() -> dict[Path, str]:
    """Relative path → generated text, formatted as committed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        written = []
        for path in sorted(SOURCE.rglob("*.py")):
            relative = path.relative_to(SOURCE)
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(convert(path.read_text()))
            written.append(target)
        _format(written)
        return {p.relative_to(out): p.read_text() for p in written}


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    rendered = render()
    stale = sorted(
        {p for p, text in rendered.items() if not (TARGET / p).is_file() or (TARGET / p).read_text() != text}
        | {p.relative_to(TARGET) for p in TARGET.rglob("*.py") if p.relative_to(TARGET) not in rendered}
    )
    for relative in stale:
        print(f"supatenant/_sync/{relative}: {'differs from _async' if check else 'written'}")
        if not check:
            target = TARGET / relative
            if relative in rendered:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(rendered[relative])
            else:
                target.unlink()
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
