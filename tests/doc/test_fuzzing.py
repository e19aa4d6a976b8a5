"""doc/fuzzing.md's commands, as a reader runs them: the text of its ```sh
block, with the build directory and the corpus made temporary and the
fuzzing bounded (-runs=N becomes -runs=RUNS), and its fuzz command once
for every libFuzzer target the build makes.  A clang warning under
-Werror, an option meson no longer knows, a target that crashes or leaks:
each fails here as it would for the reader (the issue: the doc's build
stopped on clang's -Wstring-concatenation and no test ran it).

It builds a clang ASan+UBSan tree of its own (a few minutes on two cores).
MTASTS_NINJA_JOBS=N adds -j N to the doc's ninja commands, for a shared
machine.  clang comes from tools/deps."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(ROOT, "doc", "fuzzing.md")
RUNS = 20000
# the doc's names, not paths of this checkout
DOC_BUILD = re.compile(r"(?<![\w/.-])build-fuzz(?![\w-])")
DOC_TARGET = re.compile(r"tests/fuzz/(fuzz_\w+)\b")
SANITIZERS = {
    "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}


def sh_lines(text):
    """The commands of the doc's ```sh blocks, continued lines joined."""
    lines = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line)
    return lines


def run(command, env=None):
    """Runs one command as bash runs the doc's; (exit status, output)."""
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace",
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout


def tail(output, n=60):
    return "\n".join(output.splitlines()[-n:])


class FuzzingDoc(unittest.TestCase):
    def setUp(self):
        with open(DOC) as f:
            self.text = f.read()
        self.lines = sh_lines(self.text)
        # beside the build that runs the test, never in the source tree
        parent = os.environ.get("MTASTS_BUILD_ROOT") or None
        self.tmp = tempfile.mkdtemp(prefix="fuzzing-doc-", dir=parent)
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.build = os.path.join(self.tmp, "build-fuzz")

    def corpus(self):
        return tempfile.mkdtemp(prefix="corpus-", dir=self.tmp)

    def test_commands_run(self):
        self.assertTrue(shutil.which("clang"),
                        "no clang: tools/deps installs it")
        self.assertTrue(self.lines, "doc/fuzzing.md has no ```sh block")
        jobs = os.environ.get("MTASTS_NINJA_JOBS")
        fuzz_lines = []
        for line in self.lines:
            command = DOC_BUILD.sub(self.build, line)
            if DOC_TARGET.search(line):
                fuzz_lines.append(command)
                continue
            if jobs and re.match(r"\s*ninja\b", command):
                command = re.sub(r"\bninja\b", f"ninja -j {int(jobs)}",
                                 command, count=1)
            status, out = run(command)
            self.assertEqual(status, 0, f"{line}\n{tail(out)}")
        self.assertTrue(fuzz_lines, "the doc runs no fuzz target")

        built = self.built_targets()
        named = set(re.findall(r"`(fuzz_\w+)`", self.text))
        named.discard("fuzz_T")  # the doc's placeholder
        self.assertEqual(built, named,
                         "the targets the build makes are the ones the "
                         "doc names (tests/fuzz/meson.build)")
        for line in fuzz_lines:
            self.assertRegex(line, r"-runs=\d+",
                             "a fuzz command without -runs= never ends")
            bounded = re.sub(r"-runs=\d+", f"-runs={RUNS}", line)
            doc_target = DOC_TARGET.search(bounded).group(1)
            for target in sorted(built):
                with self.subTest(target=target):
                    self.fuzz(bounded, doc_target, target)

    def built_targets(self):
        """The libFuzzer executables of the temporary build."""
        d = os.path.join(self.build, "tests", "fuzz")
        return {n for n in os.listdir(d)
                if n.startswith("fuzz_") and
                os.path.isfile(os.path.join(d, n)) and
                os.access(os.path.join(d, n), os.X_OK)}

    def fuzz(self, line, doc_target, target):
        """The doc's fuzz command for target: its executable, its seeds,
        a corpus of its own."""
        seeds = target[len("fuzz_"):]
        command = line.replace(doc_target, target)
        command = re.sub(r"tests/fuzz/seeds/\w+",
                         f"tests/fuzz/seeds/{seeds}", command)
        command = command.replace("CORPUS_DIR", self.corpus())
        self.assertTrue(os.path.isdir(os.path.join(
            ROOT, "tests", "fuzz", "seeds", seeds)), f"no seeds for {target}")
        status, out = run(command, SANITIZERS)
        self.assertEqual(status, 0, f"{command}\n{tail(out)}")
        # libFuzzer's last word: the bound was reached, nothing stopped it
        self.assertRegex(out, rf"Done {RUNS} runs", f"{command}\n{tail(out)}")


if __name__ == "__main__":
    unittest.main()
