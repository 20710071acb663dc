#!/usr/bin/env python3
"""Checks Lockstep's layering: a file of a part may include the headers of that part and of
the parts it depends on (directly or through others), never of a part above it.

    check_layers.py PART_GRAPH [SOURCE_ROOT]

PART_GRAPH is the file CMake writes (build/lockstep_parts.txt: one "part: dependencies" line
per part, from the DEPENDS of src/CMakeLists.txt). Every file under include/lockstep/<part>/
and src/<part>/ is read; an include of "lockstep/<other>/..." or of "<other>/..." (a private
header under src/<other>/) counts as a use of <other>. A folder of include/lockstep/ or src/
that is no part is an error too, so that no code escapes the check. Prints each forbidden include with its
file and line and exits 1 when there is one, 0 otherwise.
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def read_graph(path):
    graph = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        part, _, dependencies = line.partition(":")
        graph[part.strip()] = dependencies.split()
    return graph


def reachable(graph, part):
    """The parts `part` may use: itself and everything below it."""
    seen, todo = set(), [part]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(graph.get(current, []))
    return seen


def files_of_parts(root, parts):
    """(part, path) for every file of every part, public headers and sources."""
    for part in parts:
        for folder in (root / "include" / "lockstep" / part, root / "src" / part):
            if folder.is_dir():
                for path in sorted(folder.rglob("*")):
                    if path.is_file():
                        yield part, path


def included_part(include, parts):
    pieces = include.split("/")
    if len(pieces) >= 3 and pieces[0] == "lockstep" and pieces[1] in parts:
        return pieces[1]
    if len(pieces) >= 2 and pieces[0] in parts:
        return pieces[0]
    return None


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    graph = read_graph(sys.argv[1])
    root = pathlib.Path(sys.argv[2] if len(sys.argv) == 3 else ".")
    problems, checked = [], 0
    for folder in (root / "include" / "lockstep", root / "src"):
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if sub.name not in graph:
                problems.append(f"{sub.relative_to(root)}: a folder of no part; declare the part "
                                "in src/CMakeLists.txt (lockstep_add_part)")
    for part, path in files_of_parts(root, graph):
        allowed = reachable(graph, part)
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            checked += 1
            used = included_part(match.group(1), graph)
            if used is not None and used not in allowed:
                problems.append(f"{path.relative_to(root)}:{number}: part '{part}' includes "
                                f'"{match.group(1)}" of part \'{used}\', which is not below '
                                f"it (it depends on: {', '.join(sorted(allowed - {part})) or 'nothing'})")
    for problem in problems:
        print(problem)
    print(f"{checked} includes in {len(graph)} parts checked, {len(problems)} against the layering")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
