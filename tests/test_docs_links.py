"""Links between the docs point at files and headings that exist (GitHub's anchor rules)."""

import re

import pytest

from tests.docs_blocks import ROOT, documentation_files

LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def anchors(path):
    text = path.read_text()
    text_outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    found = set(re.findall(r'<a id="([^"]+)"', text_outside_code))
    for heading in re.findall(r"^#+ (.+)$", text_outside_code, re.M):
        found.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return found


@pytest.mark.parametrize("doc", documentation_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    broken = []
    for match in LINK.finditer(doc.read_text()):
        target = match["target"]
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(target)
    assert broken == []
