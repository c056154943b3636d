"""Compare two JUnit XML reports of the same s3-tests run, bare and
through s3cache: print the tests that pass bare and fail through the
proxy (regressions), and the reverse. Exit 1 when there is a regression.

A test passes when its call passed; an error in its setup or teardown
(s3-tests' bucket clean-up) is counted apart, as pytest does.
"""

import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    """Map each test's name to passed, failed, error or skipped: how its
    call went. A teardown error after a passed call (s3-tests' bucket
    clean-up) still counts the test as passed."""
    rank = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}
    result = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name")
        outcome = "passed"
        for child in case:
            message = child.get("message") or ""
            if child.tag == "failure":
                kind = "failed"
            elif child.tag == "skipped":
                kind = "skipped"
            elif child.tag == "error" and not message.startswith("failed on teardown"):
                kind = "error"
            else:
                continue
            if rank[kind] > rank[outcome]:
                outcome = kind
        if name not in result or rank[outcome] > rank[result[name]]:
            result[name] = outcome
    return result


def main():
    bare, proxy = outcomes(sys.argv[1]), outcomes(sys.argv[2])
    names = sorted(set(bare) | set(proxy))
    count = lambda r: sum(1 for n in names if r.get(n) == "passed")
    regressions = [n for n in names if bare.get(n) == "passed" and proxy.get(n) != "passed"]
    gains = [n for n in names if proxy.get(n) == "passed" and bare.get(n) != "passed"]
    print("passed: bare %d, through s3cache %d (of %d tests)" % (count(bare), count(proxy), len(names)))
    print("pass bare, fail through s3cache: %d" % len(regressions))
    for n in regressions:
        print("  %s (%s)" % (n, proxy.get(n, "missing")))
    print("pass through s3cache, fail bare: %d" % len(gains))
    for n in gains:
        print("  %s (%s bare)" % (n, bare.get(n, "missing")))
    return 1 if regressions else 0


sys.exit(main())
