"""The manual pages, as groff reads them with every warning on: each must
render without a word on standard error; and one version everywhere."""
import os
import re
import subprocess
import unittest

MAN = os.path.join(os.path.dirname(__file__), "..", "..", "module", "man")
PAGES = ["mtasts.1", "mtasts.conf.5", "filter-mtasts.8", "mtasts-exim.8"]


class Man(unittest.TestCase):
    def test_pages_render_without_warnings(self):
        for page in PAGES:
            with self.subTest(page=page):
                p = subprocess.run(["groff", "-ww", "-z", "-man", "-Tutf8",
                                    os.path.join(MAN, page)],
                                   capture_output=True, text=True)
                self.assertEqual((p.returncode, p.stderr), (0, ""))

    def test_pages_read_in_the_c_locale(self):
        """Nothing groff writes as a <name> in ASCII (a "§" did)."""
        for page in PAGES:
            with self.subTest(page=page):
                p = subprocess.run(["man", "-l", os.path.join(MAN, page)],
                                   capture_output=True, text=True,
                                   env=dict(os.environ, LC_ALL="C",
                                            MANPAGER="cat", PAGER="cat"))
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertNotRegex(p.stdout, r"<[a-z]+>")

    def test_tags_stand_on_their_own(self):
        """A .TP tag is the one line after .TP: a synopsis continued on a
        second line ran into its description (mtasts(1) refresh)."""
        for page in PAGES:
            with open(os.path.join(MAN, page)) as f:
                lines = f.read().splitlines()
            for i, line in enumerate(lines[:-2]):
                if line == ".TP" and lines[i + 1].startswith((".BR", ".B ")):
                    nxt = lines[i + 2]
                    self.assertFalse(
                        nxt.startswith((".IR", ".RB")) and
                        nxt.rstrip().endswith("]"),
                        f"{page}:{i + 2}: {lines[i + 1]} / {nxt}")

    def test_every_page_is_installed(self):
        with open(os.path.join(MAN, "..", "meson.build")) as f:
            build = f.read()
        for page in PAGES:
            self.assertIn(f"'man/{page}'", build)

    def test_one_version(self):
        """The build's version (meson.build) is the one the header, the
        command (--version, and the User-Agent made from it), the manual
        pages and the Debian package say."""
        root = os.path.join(MAN, "..", "..")

        def read(*path):
            with open(os.path.join(root, *path)) as f:
                return f.read()
        version = re.search(r"version : '([^']+)'", read("meson.build"))[1]
        # the header's is made by meson (common/mtasts_version.h.in)
        self.assertNotRegex(read("module", "mtasts.h"),
                            r"#define MTASTS_VERSION")
        self.assertEqual(re.match(r"mtasts \(([^-)]+)",
                                  read("debian", "changelog"))[1], version)
        for page in PAGES:
            self.assertIn(f'"mtasts {version}"', read("module", "man", page),
                          page)
        mtasts = os.environ.get("MTASTS")
        if mtasts:
            p = subprocess.run([mtasts, "--version"], capture_output=True,
                               text=True)
            self.assertEqual(p.stdout.strip(), f"mtasts {version}")


if __name__ == "__main__":
    unittest.main()
