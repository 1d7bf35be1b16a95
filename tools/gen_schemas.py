"""Write docs/schemas/*.schema.json, the JSON Schemas of the documents fitc writes and reads,
from their pydantic models in fitlang/documents.py.

Run: .venv/bin/python tools/gen_schemas.py   (tests fail when docs/schemas/ is stale)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "docs" / "schemas"


def render_schemas() -> dict[str, str]:
    """File name -> text, for every published document."""
    from fitlang.documents import PUBLISHED, json_schema

    return {f"{name}.schema.json": json.dumps(json_schema(name), indent=2) + "\n"
            for name in PUBLISHED}


def main() -> None:
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    rendered = render_schemas()
    for stale in SCHEMAS.glob("*.schema.json"):
        if stale.name not in rendered:
            stale.unlink()
    for name, text in rendered.items():
        (SCHEMAS / name).write_text(text)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
