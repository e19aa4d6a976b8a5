"""What README.md and doc/*.md tell a reader to type, checked cheaply
(doc/fuzzing.md's commands are run whole by test_fuzzing.py): every path
of this tree they name exists, one run as a command is executable, one
under build/ was built, and every `mtasts SUBCOMMAND` with its options and
actions is one `mtasts --help` and `mtasts SUBCOMMAND --help` know."""
import glob
import os
import re
import subprocess
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("MTASTS_BUILD_DIR", os.path.join(ROOT, "build"))
MTASTS = os.environ.get("MTASTS", "mtasts")
DOCS = ["README.md"] + sorted(
    os.path.join("doc", os.path.basename(p))
    for p in glob.glob(os.path.join(ROOT, "doc", "*.md")))
TOP = sorted(n for n in os.listdir(ROOT) if not n.startswith("."))
# a path of this tree (or of the build) as the docs write it: from the top,
# never after a '/' (an installed path) or inside a word
PATH = re.compile(r"(?<![\w./~-])((?:%s)/[\w.+-]*(?:/[\w.+-]+)*/?)" %
                  "|".join(re.escape(n) for n in TOP + ["build"]))
# where a line or a span starts a command
COMMAND_AT = r"(?:^|&&\s*|;\s*|\$ |sudo (?:\w+=\S+ )*)"
MTASTS_AT = re.compile(r"(?:^|&&\s*|;\s*|\$ |sudo |/bin/|cli/)mtasts "
                       r"([a-z][a-z-]*)([^\n]*)")


def code(text):
    """(unit, fenced) for each line of the code blocks (fenced, or indented
    by four spaces), continued lines joined, and each `span` of the prose
    (its white space, line breaks included, made single spaces)."""
    units = []
    for block in re.findall(r"^```\w*\n(.*?)^```", text, re.M | re.S):
        units += [(line, True) for line in block.splitlines()]
    prose = re.sub(r"^```\w*\n.*?^```", "", text, flags=re.M | re.S)
    for para in re.split(r"\n\s*\n", prose):
        if all(line.startswith("    ") for line in para.splitlines()):
            units += [(line, True) for line in
                      para.replace("\\\n", " ").splitlines()]
    units += [(s, False) for s in re.findall(r"`([^`]+)`", prose)]
    return [(" ".join(u.split()), fenced) for u, fenced in units
            if u.strip()]


def one_command(rest):
    """A command's words up to the next command or a comment."""
    return re.split(r"\s(?:&&|;|\||#)\s|\s#", rest)[0]


def help_of(*subcommand):
    p = subprocess.run([MTASTS, *subcommand, "--help"], capture_output=True,
                       text=True)
    return p.stdout + p.stderr


class DocCommands(unittest.TestCase):
    def units(self):
        for doc in DOCS:
            with open(os.path.join(ROOT, doc)) as f:
                for unit, fenced in code(f.read()):
                    yield doc, unit, fenced

    def test_named_paths_exist(self):
        for doc, unit, fenced in self.units():
            for path in PATH.findall(unit):
                if re.search(r"[A-Z*$]", path.split("/", 1)[-1]):
                    continue  # a placeholder: NAME, fuzz_T, mtasts_*.deb
                with self.subTest(doc=doc, path=path):
                    if path.startswith("build/"):
                        where = os.path.join(BUILD, path[len("build/"):])
                    elif os.path.exists(os.path.join(ROOT, path)):
                        where = os.path.join(ROOT, path)
                    else:  # made by the build (exim/exim.conf)
                        where = os.path.join(BUILD, path)
                    self.assertTrue(os.path.exists(where),
                                    f"{doc}: {unit}: no {path}")
                    # run, not named: in a code block, or given arguments
                    run = re.search(COMMAND_AT + re.escape(path) +
                                    (r"(?:\s|$)" if fenced else r"\s"), unit)
                    if run:
                        self.assertTrue(os.access(where, os.X_OK),
                                        f"{doc}: {unit}: {path} is run "
                                        "but not executable")

    def test_subcommands_are_the_commands(self):
        known = set(re.findall(r"^  ([a-z][a-z-]+) ", help_of(), re.M))
        self.assertIn("lookup", known, "mtasts --help lists no subcommands")
        for doc, unit, _ in self.units():
            for sub, rest in MTASTS_AT.findall(unit):
                with self.subTest(doc=doc, command=f"mtasts {sub}"):
                    self.assertIn(sub, known, f"{doc}: {unit}")
                    self.check_words(doc, unit, sub, one_command(rest))

    def check_words(self, doc, unit, sub, rest):
        """The options the doc gives sub, and its action (tlsrpt show, cache
        list) when sub has actions, are in `mtasts sub --help`."""
        text = help_of(sub)
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
            self.assertTrue(re.search(rf"(?<![\w-]){option}(?![\w-])", text),
                            f"{doc}: {unit}: mtasts {sub} has no {option}")
        actions = set(re.findall(
            rf"mtasts {re.escape(sub)} (?:\[[^\]]*\] )*([a-z][a-z-]*)", text))
        if not actions:
            return
        for word in re.split(r"[\s|\\\[\]()]+", rest):
            if re.fullmatch(r"[a-z][a-z-]*", word):
                self.assertIn(word, actions,
                              f"{doc}: {unit}: mtasts {sub} has no {word}")


if __name__ == "__main__":
    unittest.main()
