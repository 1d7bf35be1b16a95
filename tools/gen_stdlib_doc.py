"""Write docs/stdlib.md from stdlib/ (the accelerator models, offers and regions it declares).

Run: .venv/bin/python tools/gen_stdlib_doc.py   (tests fail when docs/stdlib.md is stale)
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    from fitlang.stdlib_reference import reference

    (ROOT / "docs" / "stdlib.md").write_text(reference())


if __name__ == "__main__":
    main()
