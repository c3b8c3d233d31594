"""sigstore-python's command line, run once for each argument list in one interpreter.

Reads a JSON array of argument lists (each what would follow `sigstore` on a command line)
from the file its one argument names, runs `sigstore._cli.main` (what the `sigstore`
command runs) with each, its standard output and error caught at the file descriptors, and
writes a JSON array of {"code", "stdout", "stderr"} on stdout, one for each, in order. The
exit code is the one `sigstore` would exit with: that of `SystemExit`, or 1 for an
exception nothing caught (its traceback on its stderr). Starting Python and importing
sigstore, done here once, is most of the time of a run.
"""

import json
import os
import sys
import tempfile
import traceback

from sigstore import _cli


def run(argv):
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        code = 0
        try:
            _cli.main(argv)
        except SystemExit as exit:
            if exit.code is None:
                code = 0
            elif isinstance(exit.code, int):
                code = exit.code
            else:
                print(exit.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return {
            "code": code,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        jobs = json.load(f)
    results = [run(argv) for argv in jobs]
    json.dump(results, sys.stdout)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
