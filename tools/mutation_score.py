"""Per-file mutation score of the last ``mutmut run`` (``make mutation``), from ``mutants/``.

Score = killed / (checked - equivalent), where "killed" includes timeouts (the mutant hung: a
test would notice) and "equivalent" lists the mutants in ``tools/mutation_equivalent.txt``
(one ``name  # why`` per line): mutants that cannot change any observable result. Prints one
row per file, the total, and every survivor not listed as equivalent.

Usage: ``.venv/bin/python tools/mutation_score.py [--survivors] [PATTERN ...]``; PATTERNs (fnmatch,
as for ``mutmut run``) restrict the count to those mutants.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = ROOT / "tools" / "mutation_equivalent.txt"
KILLED, SURVIVED = {1, 3}, {0}
TIMEOUT = {36, -24, 24, 152, 255}


def equivalent() -> dict[str, str]:
    out = {}
    for line in EQUIVALENT_FILE.read_text().splitlines() if EQUIVALENT_FILE.exists() else []:
        name, _, why = line.partition("#")
        if name.strip():
            out[name.strip()] = why.strip()
    return out


def main(argv: list[str]) -> int:
    metas = sorted((ROOT / "mutants" / "schedcore").glob("*.py.meta"))
    if not metas:
        print("no mutants/schedcore/*.meta: run `make mutation` first")
        return 1
    equiv = equivalent()
    patterns = [a for a in argv if not a.startswith("--")]
    survivors = []
    print(f"{'file':<16}{'mutants':>8}{'checked':>8}{'killed':>8}{'survived':>9}{'equiv':>6}{'score':>8}")
    total = Counter()
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        c = Counter()
        for name, code in codes.items():
            if patterns and not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            c["mutants"] += 1
            if code is None:
                continue
            c["checked"] += 1
            if code in KILLED or code in TIMEOUT:
                c["killed"] += 1
            elif name in equiv:
                c["equiv"] += 1
            else:
                c["survived"] += 1  # survived, no tests, suspicious: all count against the score
                survivors.append((name, code))
        total.update(c)
        if c["mutants"]:
            _row(meta.name.removesuffix(".py.meta") + ".py", c)
    _row("total", total)
    if "--survivors" in argv:
        for name, code in survivors:
            print(f"    {name}: exit code {code}")
    return 0


def _row(name: str, c: Counter) -> None:
    live = c["checked"] - c["equiv"]
    score = f"{100 * c['killed'] / live:.1f}%" if live else "-"
    print(f"{name:<16}{c['mutants']:>8}{c['checked']:>8}{c['killed']:>8}{c['survived']:>9}{c['equiv']:>6}{score:>8}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
