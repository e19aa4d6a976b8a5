"""What the shared objects export: libmtasts.so the functions the public
headers (mtasts.h and the mtasts_core.h it includes) declare with
MTASTS_API, and nothing else; mtasts_exim.so, loaded into
Exim's own process (which has a dns_lookup of its own), only its
${dlfunc} functions."""
import os
import re
import subprocess
import unittest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
HEADERS = [os.path.join(ROOT, "module", "mtasts.h"),
           os.path.join(ROOT, "common", "mtasts_core.h")]
EXIM_FUNCTIONS = {"mtasts_mode", "mtasts_recheck", "mtasts_ignore",
                  "mtasts_reason", "mtasts_report", "mtasts_testing_mx",
                  "mtasts_tlsrpt"}


def exported(path, node=None):
    """The functions and data a shared object defines for others; with
    node, each must carry that symbol version."""
    out = subprocess.run(["nm", "-D", "--defined-only", path],
                         capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        kind, symbol = line.split()[-2:]
        if kind not in ("T", "D", "B", "R", "W", "V"):
            continue
        name, _, version = symbol.partition("@@")
        if node is not None and version != node:
            raise AssertionError(f"{symbol}: not in version node {node}")
        names.add(name)
    return names


class Symbols(unittest.TestCase):
    def test_library_exports_the_api(self):
        api = set()
        for header in HEADERS:
            with open(header) as f:
                api |= set(re.findall(r"^MTASTS_API [^(]*?\b(mtasts_\w+)\(",
                                      f.read(), re.M))
        self.assertGreater(len(api), 30)
        self.assertEqual(exported(os.environ["MTASTS_LIB"], "MTASTS_0"), api)

    def test_library_links_no_json_library(self):
        """No exported function speaks JSON: the command's JSON, probe and
        TLS-RPT store are not in libmtasts.so (module/meson.build)."""
        out = subprocess.run(["readelf", "-d", os.environ["MTASTS_LIB"]],
                             capture_output=True, text=True,
                             check=True).stdout
        needed = re.findall(r"\(NEEDED\).*\[(.+)\]", out)
        self.assertTrue(needed)
        self.assertFalse([n for n in needed if "jansson" in n], needed)

    @unittest.skipUnless(os.environ.get("MTASTS_EXIM_SO"),
                         "no Exim adapter built (exim4-dev)")
    def test_exim_module_exports_its_functions(self):
        self.assertEqual(exported(os.environ["MTASTS_EXIM_SO"]),
                         EXIM_FUNCTIONS)

    @unittest.skipUnless(os.environ.get("MTASTS_EXIM_SO"),
                         "no Exim adapter built (exim4-dev)")
    def test_exim_module_maps_only_what_a_decision_needs(self):
        """Every Exim process that expands a function maps the module's
        libraries: only what a decision from the cache needs (Exim
        itself maps libunbound, OpenSSL and libidn2 already); libcurl is
        loaded at a policy's first fetch, JSON and the TLS-RPT store are
        the command's; LMDB and inih are linked in (exim/lmdb-pic), and
        none of their names is exported."""
        out = subprocess.run(["readelf", "-d", os.environ["MTASTS_EXIM_SO"]],
                             capture_output=True, text=True,
                             check=True).stdout
        # the sanitizer build's runtimes aside
        needed = set(re.findall(r"\(NEEDED\).*\[(lib[^.\]]+)", out)) - {
            "libasan", "libubsan"}
        self.assertEqual(needed, {"libunbound",
                                  "libssl", "libcrypto", "libidn2", "libc"})
        dyn = subprocess.run(["nm", "-D", "--defined-only",
                              os.environ["MTASTS_EXIM_SO"]],
                             capture_output=True, text=True,
                             check=True).stdout
        self.assertEqual(re.findall(r" T ((?:mdb|ini)_\w+)", dyn), [])


if __name__ == "__main__":
    unittest.main()
