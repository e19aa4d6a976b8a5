"""What the tests of this folder read from their runners (runner.h): a
line of "key=value" words, the free text last ("message=..." of a
result, "data=..." of a DNS record)."""


def parse(line):
    """{key: value} of a runner's line, its message or data whole."""
    for last in (" message=", " data="):
        words, found, rest = line.partition(last)
        if found:
            break
    out = dict(w.split("=", 1) for w in words.split())
    if found:
        out[last.strip(" =")] = rest
    return out
