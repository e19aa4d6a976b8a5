"""The floors of the house hold (doc/design.md, Layout): common/ includes
and calls nothing above it, module/ nothing of an adapter's, and an
adapter nothing of another adapter's.  Read from the sources: each
#include "x.h" is found in the folder that has x.h, each call to a
function by the folder that defines it."""
import glob
import os
import re
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
# each floor, and the floors below it it may use
FLOORS = {
    "common": {"common"},
    "module": {"common", "module"},
    "exim": {"common", "module", "exim"},
    "opensmtpd": {"common", "module", "opensmtpd"},
}


def floor_of(path):
    rel = os.path.relpath(path, ROOT)
    return rel.split(os.sep)[0]


def sources(floor):
    return [p for p in glob.glob(os.path.join(ROOT, floor, "**", "*.[ch]"),
                                 recursive=True)]


def homes():
    """header name -> floors that have it (.in: made by meson)."""
    found = {}
    for floor in FLOORS:
        for p in glob.glob(os.path.join(ROOT, floor, "**", "*.h*"),
                           recursive=True):
            name = os.path.basename(p)
            if name.endswith(".h.in"):
                name = name[:-3]
            if name.endswith(".h"):
                found.setdefault(name, set()).add(floor)
    return found


class Layers(unittest.TestCase):
    def test_includes_go_down_only(self):
        where = homes()
        wrong = []
        for floor, allowed in FLOORS.items():
            for p in sources(floor):
                with open(p, errors="replace") as f:
                    for name in re.findall(r'^#include "([^"]+)"', f.read(),
                                           re.M):
                        home = where.get(os.path.basename(name))
                        if home is not None and not home & allowed:
                            wrong.append(f"{os.path.relpath(p, ROOT)}: "
                                         f"{name} ({', '.join(home)})")
        self.assertEqual(wrong, [])

    def test_common_calls_nothing_above(self):
        """The functions other files may call (not static) that a floor
        above defines: common/ calls none of them."""
        defined = {}
        for floor in ("module", "exim", "opensmtpd"):
            for p in sources(floor):
                if p.endswith(".c"):
                    with open(p, errors="replace") as f:
                        for kind, fn in re.findall(
                                r"^(.*)\n([a-z_][a-z0-9_]*)\(", f.read(),
                                re.M):
                            if "static" not in kind and fn not in (
                                    "main", "__attribute__"):
                                defined[fn] = os.path.relpath(p, ROOT)
        wrong = []
        for p in sources("common"):
            with open(p, errors="replace") as f:
                # what the code calls, not what its comments name
                text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
            for fn, where in defined.items():
                if re.search(rf"\b{fn}\(", text):
                    wrong.append(f"{os.path.relpath(p, ROOT)} calls {fn} "
                                 f"({where})")
        self.assertEqual(wrong, [])


if __name__ == "__main__":
    unittest.main()
