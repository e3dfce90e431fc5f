#!/usr/bin/env python3
"""Checks README.md against the tree, and the links of README.md and docs/.

    python3 Tests/Docs/check_readme.py [ROOT]    (ROOT: the repository; default: this script's ../..)

Prints every problem and exits 1 if there is one.

1. The layout block: the fenced block after the line `<!-- layout -->` in README.md. A line that starts
   in column 0 is an entry: a path from the repository's root (a folder ends in `/`), spaces, and what it
   holds; a line that starts with a space continues the entry above. It fails when
   - an entry's path does not exist (or names a file with a trailing `/`), or the entry says nothing;
   - a room is not listed. The rooms: every folder one level below a top-level folder (Sources/TTLKV,
     Tests/C, CSources/ttlkv, docs/bench, ...), and every top-level folder with no folder in it
     (examples/). A room is listed when the block names it or anything inside it;
   - the block names a folder below a room but not all of that folder's siblings (naming
     Sources/TTLKV/API/ means naming every folder of Sources/TTLKV).
   The walk skips dot folders (.git, .build, .ci, .swiftpm), build folders (build/, __pycache__/) and
   folders that hold no file. So when the tree changes, updating the block is all that is needed.
2. Links: every relative link in README.md and docs/**/*.md (inline, reference-style, and HTML src/href;
   code spans and fenced blocks skipped) names an existing file or folder, and a #fragment into a
   Markdown page names one of its headings (GitHub's anchors).
3. README.md is at most 300 lines.
"""

import os
import re
import sys
import unicodedata

MAX_README_LINES = 300
LAYOUT_MARKER = "<!-- layout -->"
SKIPPED_FOLDERS = {"build", "__pycache__", "node_modules"}


def skipped(name):
    return name.startswith(".") or name in SKIPPED_FOLDERS


def folders(root):
    """Every folder of the tree (relative, '/'-separated) that holds a file somewhere below it."""
    found = set()
    for here, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not skipped(d)]
        rel = os.path.relpath(here, root).replace(os.sep, "/")
        if rel != "." and files:
            parts = rel.split("/")
            for i in range(1, len(parts) + 1):
                found.add("/".join(parts[:i]))
    return found


def children(folder, tree):
    depth = folder.count("/") + 1 if folder else 0
    prefix = folder + "/" if folder else ""
    return sorted(f for f in tree if f.startswith(prefix) and f.count("/") == depth)


def rooms(tree):
    result = []
    for top in children("", tree):
        below = children(top, tree)
        result.extend(below if below else [top])
    return result


def fenced_block(lines, opening):
    """(line number of its first line, lines) of the fenced block whose fence is lines[opening]."""
    body = []
    for k in range(opening + 1, len(lines)):
        if lines[k].startswith("```"):
            return opening + 2, body
        body.append(lines[k])
    return None


def layout_block(lines):
    """The fenced block after the marker line, or None."""
    for i, line in enumerate(lines):
        if line.strip() == LAYOUT_MARKER:
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            return fenced_block(lines, j) if j < len(lines) and lines[j].startswith("```") else None
    return None


def first_plain_block(lines):
    """The first fenced block without a language (a README from before the marker), or None."""
    inside = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            if not inside and line.rstrip() == "```":
                return fenced_block(lines, i)
            inside = not inside
    return None


def check_layout(root, readme_lines, problems):
    block = layout_block(readme_lines)
    if block is None:
        problems.append(f"README.md: no fenced layout block after a line `{LAYOUT_MARKER}`")
        block = first_plain_block(readme_lines)
        if block is None:
            return 0
        problems.append(f"README.md: checking the first fenced block without a language (line {block[0] - 1}) instead")
    first, body = block
    tree = folders(root)
    listed = []
    for number, line in enumerate(body, start=first):
        if not line.strip() or line[0].isspace():
            continue
        path, _, what = line.partition(" ")
        where = f"README.md:{number}: layout entry {path}"
        if not what.strip():
            problems.append(f"{where}: says nothing about what it holds")
        full = os.path.join(root, path.rstrip("/"))
        if not os.path.exists(full):
            problems.append(f"{where}: no such path in the tree")
            continue
        if path.endswith("/") and not os.path.isdir(full):
            problems.append(f"{where}: ends in / but is a file")
            continue
        listed.append((path.rstrip("/"), os.path.isdir(full)))

    names = [p for p, _ in listed]

    def covered(folder):
        return any(p == folder or p.startswith(folder + "/") for p in names)

    for room in rooms(tree):
        if not covered(room):
            problems.append(f"README.md: layout block: room {room}/ is missing")
    room_set = set(rooms(tree))
    missing_siblings = {}
    for path, is_folder in listed:
        parent = path.rpartition("/")[0]
        if not is_folder or path in room_set or parent.count("/") < 1:
            continue
        for sibling in children(parent, tree):
            if not covered(sibling):
                missing_siblings.setdefault(sibling, path)
    for sibling, path in missing_siblings.items():
        problems.append(f"README.md: layout block lists {path}/ but not its sibling {sibling}/")
    return len(listed)


# --- Links.

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
HTML_ATTR = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text):
    """(line number, line) outside fenced blocks, code spans blanked."""
    inside = None
    for number, line in enumerate(text.splitlines(), start=1):
        m = FENCE.match(line)
        if m:
            if inside is None:
                inside = m.group(1)
            elif m.group(1) == inside:
                inside = None
            continue
        if inside is None:
            yield number, CODE_SPAN.sub(lambda s: " " * len(s.group(0)), line)


def slug(heading):
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # a link keeps its text
    text = text.replace("`", "").strip().lower()
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in " -_" or category[0] in "LN" or category == "Mn":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        seen = {}
        result = set()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        inside = None
        for line in text.splitlines():
            m = FENCE.match(line)
            if m:
                inside = m.group(1) if inside is None else (None if m.group(1) == inside else inside)
                continue
            h = HEADING.match(line) if inside is None else None
            if h:
                base = slug(h.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                result.add(base if n == 0 else f"{base}-{n}")
        result.update(re.findall(r"""<a\s+(?:name|id)=["']([^"']+)["']""", text))
        cache[path] = result
    return cache[path]


def check_links(root, page, problems):
    with open(os.path.join(root, page), encoding="utf-8") as f:
        text = f.read()
    count = 0
    for number, line in prose_lines(text):
        targets = INLINE_LINK.findall(line) + HTML_ATTR.findall(line)
        m = REFERENCE.match(line)
        if m:
            targets.append(m.group(1))
        for target in targets:
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):   # http:, mailto:, doc: ...
                continue
            count += 1
            file_part, _, fragment = target.partition("#")
            if file_part:
                resolved = os.path.normpath(os.path.join(os.path.dirname(os.path.join(root, page)), file_part))
            else:
                resolved = os.path.join(root, page)
            where = f"{page}:{number}: link {target}"
            if not os.path.normpath(resolved).startswith(os.path.normpath(root) + os.sep):
                problems.append(f"{where}: points outside the repository")
            elif not os.path.exists(resolved):
                problems.append(f"{where}: no such file")
            elif fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
                problems.append(f"{where}: no heading #{fragment} in {os.path.relpath(resolved, root)}")
    return count


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    problems = []
    readme = os.path.join(root, "README.md")
    with open(readme, encoding="utf-8") as f:
        lines = f.read().splitlines()

    if len(lines) > MAX_README_LINES:
        problems.append(f"README.md: {len(lines)} lines, more than {MAX_README_LINES}")
    entries = check_layout(root, lines, problems)

    pages = ["README.md"]
    for here, subdirs, files in os.walk(os.path.join(root, "docs")):
        subdirs[:] = sorted(d for d in subdirs if not skipped(d))
        pages.extend(os.path.relpath(os.path.join(here, f), root).replace(os.sep, "/")
                     for f in sorted(files) if f.endswith(".md"))
    links = sum(check_links(root, page, problems) for page in pages)

    for problem in problems:
        print(problem)
    if problems:
        print(f"check_readme: {len(problems)} problem(s)")
        return 1
    print(f"check_readme: README.md has {len(lines)} lines, {entries} layout entries cover every room; "
          f"{links} relative links in {len(pages)} pages all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
