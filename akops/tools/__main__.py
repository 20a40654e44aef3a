"""``python -m akops.tools helm | go NAME | pgbouncer [VERSION]``: print a cached tool's path.

Rule: entry point (parses argv, maps errors to exit codes).
"""

from __future__ import annotations

import sys

from akops.errors import ToolMissingError

USAGE = "usage: python -m akops.tools helm | go NAME | pgbouncer [VERSION]"


def main(argv: list[str]) -> int:
    from akops.tools.gobuild import ensure_go_program
    from akops.tools.helm import ensure_helm
    from akops.tools.pgbouncer import ensure_pgbouncer
    from akops.tools.programs import PROGRAMS

    try:
        if argv == ["helm"]:
            print(ensure_helm())
        elif len(argv) == 2 and argv[0] == "go":
            program = PROGRAMS.get(argv[1])
            if program is None:
                known = ", ".join(sorted(PROGRAMS)) or "none"
                print(f"error: no Go program named {argv[1]!r} (known: {known})", file=sys.stderr)
                return 2
            print(ensure_go_program(program, on_line=lambda line: print(line, file=sys.stderr)))
        elif argv[:1] == ["pgbouncer"] and len(argv) <= 2:
            # Build output goes to stderr: stdout is only the path, for $(...) in CI.
            print(ensure_pgbouncer(*argv[1:], on_line=lambda line: print(line, file=sys.stderr)))
        else:
            print(USAGE, file=sys.stderr)
            return 2
    except ToolMissingError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
