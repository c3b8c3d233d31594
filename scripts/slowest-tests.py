#!/usr/bin/env python3
"""Prints the N slowest tests of a JUnit report (cargo-nextest's), slowest first, and the
sum of all test times: where a test run's time went.

    scripts/slowest-tests.py target/nextest/default/junit.xml [N]
"""
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        cases.append((float(case.get("time", "0")), case.get("name", "?")))
    cases.sort(reverse=True)
    total = sum(t for t, _ in cases)
    print(f"== slowest {min(count, len(cases))} of {len(cases)} tests "
          f"(sum of all test times {total:.0f}s)")
    for took, name in cases[:count]:
        print(f"{took:8.1f}s  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
