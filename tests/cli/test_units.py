"""The systemd units as built: each is rated 2.3 or lower ("OK") by
systemd-analyze security (offline: the files themselves, as the packages
install them), and this systemd reads every line of them."""
import glob
import os
import re
import subprocess
import unittest

UNITS = os.environ.get("MTASTS_UNITS", "")
# Debian's postfix-mta-sts-resolver unit: the bar the issue set
MOST = 2.3
EXPECTED = {"mtasts-refresh.service", "mtasts-tlsrpt.service",
            "mtasts-metrics.service", "mtasts-smtpd-table.service"}


def rate(path):
    p = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager",
         os.path.basename(path)],
        cwd=os.path.dirname(path), capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout)
    return p, (float(m.group(1)) if m else None)


class Units(unittest.TestCase):
    def services(self):
        found = sorted(glob.glob(os.path.join(UNITS, "mtasts-*.service")))
        self.assertEqual({os.path.basename(f) for f in found}, EXPECTED)
        return found

    def test_each_unit_rates_at_most_2_3(self):
        for path in self.services():
            with self.subTest(unit=os.path.basename(path)):
                p, level = rate(path)
                self.assertIsNotNone(level, p.stdout + p.stderr)
                self.assertLessEqual(level, MOST, p.stdout)

    def test_every_line_is_understood(self):
        """A setting this systemd does not know is ignored with a
        warning (a sandbox that silently is not there)."""
        for path in self.services():
            with self.subTest(unit=os.path.basename(path)):
                p, _ = rate(path)
                self.assertNotRegex(p.stderr, r"(?i)unknown|ignoring|invalid",
                                    p.stderr)

    def test_the_shared_sandbox_is_in_every_unit(self):
        """The lines of module/systemd/sandbox.conf, as meson wrote them."""
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "..", "module", "systemd",
                               "sandbox.conf")) as f:
            sandbox = [line for line in f.read().splitlines()
                       if line and not line.startswith("#")]
        for path in self.services():
            with open(path) as f:
                lines = f.read().splitlines()
            with self.subTest(unit=os.path.basename(path)):
                self.assertFalse([s for s in sandbox if s not in lines])
                # nothing meson left unreplaced
                self.assertFalse([s for s in lines
                                  if re.search(r"@[A-Z_]+@", s)])


if __name__ == "__main__":
    unittest.main()
