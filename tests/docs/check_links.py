#!/usr/bin/env python3
"""Checks every internal link of the book (docs/src), README.md and ARCHITECTURE.md.

A relative link must name a file or folder that exists (resolved from the page's folder, as
GitHub and mdBook resolve it); a `#anchor`, alone or after a Markdown page, must be a heading
of that page (GitHub's slugs: lower case, punctuation dropped, spaces to hyphens). Links to
other sites are not fetched. Exits 1 listing each broken link with its file and line.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def slug(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: pathlib.Path) -> set:
    found, seen, fence = set(), {}, False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fence = not fence
        m = re.match(r"^#{1,6} (.*)", line)
        if m and not fence:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            found.add(s if n == 0 else f"{s}-{n}")
    return found


def links(page: pathlib.Path):
    fence = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        # Inline code is not a link.
        for target in LINK.findall(re.sub(r"`[^`]*`", "``", line)):
            yield number, target


def main() -> int:
    pages = sorted((ROOT / "docs" / "src").glob("*.md")) + [ROOT / "README.md", ROOT / "ARCHITECTURE.md"]
    broken, checked = [], 0
    for page in pages:
        for number, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # another site, or mailto:
            checked += 1
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}:{number}: `{target}`"
            if not dest.exists():
                broken.append(f"{where}: no such file `{dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}`")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{where}: no heading `#{anchor}` in {dest.relative_to(ROOT)}")
    for b in broken:
        print(b)
    print(f"{checked} internal link(s) in {len(pages)} page(s), {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
