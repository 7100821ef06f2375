#!/usr/bin/env python3
"""Checks the JUnit XML that `relaysim test --junit` wrote, as CI reporters read it.

    check_junit.py REPORT.xml SCHEMA.xsd SCENARIO_DIR...

- REPORT.xml is valid against SCHEMA.xsd (the Jenkins/Surefire JUnit schema, as
  pytest ships it for its own tests: testing/example_scripts/junit-10.xsd of the
  pytest sdist, which .ci/run downloads from PyPI);
- every scenario file under the folders that has `[[expect]]` blocks is one
  testsuite, with one testcase per block;
- self-test: the same document with a testcase's required `name` removed is
  rejected, so a validator that accepts anything fails this check.
"""

import copy
import pathlib
import sys
import xml.etree.ElementTree as ET

import xmlschema


def main() -> None:
    report, schema_path, *folders = sys.argv[1:]
    schema = xmlschema.XMLSchema(schema_path)
    tree = ET.parse(report)
    schema.validate(tree)

    suites = {s.get("name"): s for s in tree.getroot().iter("testsuite")}
    expected = {}
    for folder in folders:
        for path in sorted(pathlib.Path(folder).rglob("*.toml")):
            blocks = sum(
                line.strip() == "[[expect]]" for line in path.read_text().splitlines()
            )
            if blocks:
                expected[str(path)] = blocks
    if not expected:
        sys.exit(f"no scenario with [[expect]] blocks under {folders}")
    for file, blocks in expected.items():
        suite = suites.get(file)
        if suite is None:
            sys.exit(f"{report}: no testsuite for {file}")
        cases = suite.findall("testcase")
        if len(cases) != blocks:
            sys.exit(f"{report}: {file} has {blocks} [[expect]] blocks but {len(cases)} testcases")
        for case in cases:
            out = case.findtext("system-out") or ""
            if not out.startswith(f"{file}:"):
                sys.exit(f"{report}: testcase {case.get('name')!r} does not say its file:line")

    broken = copy.deepcopy(tree)
    next(broken.getroot().iter("testcase")).attrib.pop("name")
    if schema.is_valid(broken):
        sys.exit("self-test failed: the schema accepted a testcase without a name")

    cases = sum(expected.values())
    print(f"{report}: valid JUnit XML; {len(expected)} testsuites, {cases} testcases, one per [[expect]] block")


if __name__ == "__main__":
    main()
