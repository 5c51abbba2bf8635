"""The docs site's home page is the README with its links made the site's: ``docs/x.md`` becomes
``x.md``, and files outside ``docs/`` (notebooks, benchmarks, fixtures) their GitHub pages.

    python scripts/docs_index.py      # writes docs/index.md (tests/test_docs.py checks it is current)
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GITHUB = "https://github.com/nlpbook-demo/demo_app/blob/main/"


def index_from_readme(readme: str) -> str:
    text = readme.replace("](docs/", "](")
    return re.sub(r"\]\(((?:notebooks|benchmarks|tests|demo_app|scripts)/[^)]*)\)",
                  lambda match: "](" + GITHUB + match.group(1) + ")", text)


if __name__ == "__main__":
    (ROOT / "docs" / "index.md").write_text(index_from_readme((ROOT / "README.md").read_text(encoding="utf-8")),
                                            encoding="utf-8")
