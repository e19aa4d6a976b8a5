"""The manual pages, as groff reads them with every warning on: each must
render without a word on standard error."""
import os
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

    def test_every_page_is_installed(self):
        with open(os.path.join(MAN, "..", "meson.build")) as f:
            build = f.read()
        for page in PAGES:
            self.assertIn(f"'man/{page}'", build)


if __name__ == "__main__":
    unittest.main()
