"""The billing block: how a milestone without custom fields (GitHub) carries its terms.

In the milestone's description, a fenced code block whose info string is `billing`:

    ```billing
    contract: ACME-WEB
    amount: 9600.00        # or percent: 20
    accepted: 2026-11-02   # the client approved it; leave out until they do
    ```

Keys are the file source's: id (default: the tracker's own key), contract, amount, percent,
accepted, completed (default: when it was closed), terms_days, status (only `cancelled` is
useful: open/closed come from the tracker). `#` starts a comment. Every problem names the line
of the description it is on.
"""

from __future__ import annotations

import re

KEYS = ("id", "contract", "amount", "percent", "accepted", "completed", "terms_days", "status")
_OPEN = re.compile(r"^\s*(`{3,}|~{3,})\s*billing\s*$", re.IGNORECASE)
_COMMENT = re.compile(r"(?:^|\s)#")  # "owner/repo#3" is a value, " # note" a comment
_LINE = re.compile(r"^\s*([A-Za-z_]+)\s*:\s*(.*?)\s*$")

EXAMPLE = "```billing\ncontract: ACME-WEB\namount: 9600.00\n```"


def render(values: dict[str, str]) -> str:
    """The block for `values`, as a person would type it."""
    return "```billing\n" + "".join(f"{k}: {v}\n" for k, v in values.items()) + "```"


def parse(text: str | None) -> tuple[dict[str, str], dict[str, int], list[str]]:
    """(values, line of each key, problems). No block at all is one problem that says what
    to add."""
    lines = (text or "").replace("\r\n", "\n").split("\n")
    start = next((i for i, line in enumerate(lines) if _OPEN.match(line)), None)
    if start is None:
        return (
            {},
            {},
            ["the description has no billing block; add one like " + EXAMPLE.replace("\n", " | ")],
        )
    fence = _OPEN.match(lines[start]).group(1)  # type: ignore[union-attr]
    values: dict[str, str] = {}
    where: dict[str, int] = {}
    problems: list[str] = []
    for number in range(start + 2, len(lines) + 1):
        raw = lines[number - 1]
        if raw.strip().startswith(fence[0] * 3):
            return values, where, problems
        content = _COMMENT.split(raw, maxsplit=1)[0].strip()
        if not content:
            continue
        match = _LINE.match(content)
        if match is None:
            problems.append(f"description line {number}: expected `key: value`, got {raw!r}")
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key not in KEYS:
            problems.append(
                f"description line {number}: unknown key {key!r}; expected one of: "
                + ", ".join(KEYS)
            )
        elif key in values:
            problems.append(f"description line {number}: {key} is given twice")
        else:
            values[key], where[key] = value, number
    problems.append(f"description line {start + 1}: the billing block is never closed with {fence}")
    return values, where, problems


def locate(problems: list[str], where: dict[str, int]) -> list[str]:
    """`amount: expected ...` -> `description line 4: amount: expected ...`."""
    out = []
    for p in problems:
        key = p.split(":", 1)[0]
        out.append(f"description line {where[key]}: {p}" if key in where else p)
    return out
