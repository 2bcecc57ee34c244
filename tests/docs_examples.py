"""Checked examples of docs/API_DOCUMENTATION.md: parse them, run them, compare the answers.

The example format (also explained at the top of the document):

- A **request** is a fenced block with the info string `http` whose first line is
  `METHOD /path?query`, then header lines, a blank line and the raw body; or a fenced `sh`
  block holding one `curl` command (`-X`, `-H`, `-d`; `-i`/`-s` are ignored).
- The **response** is the fenced `http` block that immediately follows it: the status line
  `HTTP/1.1 201 Created`, the headers to check, a blank line and the body (JSON or text).
  Headers not listed are not checked; an empty body means the response body must be empty.
- `{{name}}` in an `http` block, `$NAME` or `${NAME}` in a `curl` command, stand for a value
  captured from an earlier response (names ignore case).
- Directives are HTML comments between a response and the next fenced block:
  `<!-- capture: token = body.access_token, etag = header.ETag -->` keeps values for later
  examples; `<!-- repeat-until: 429 -->` sends the request again until that status comes back;
  `<!-- skip: reason -->` leaves the example out of the run (it is reported as skipped).

Comparing a documented response with the real one:

- The status code must be equal, and the documented reason phrase must be the standard one.
- JSON bodies are compared structurally: objects must have the same keys (a `"…"` key allows
  further keys), arrays the same length, numbers, booleans and null must be equal.
- Values that change from run to run are matched by their shape: a documented time written
  as `2026-11-25T12:00:00.000000Z` matches any such time, a strong ETag (`"` + 32 hex digits
  + `"`) or a 32-hex-digit request id matches any value of that shape, the `t=` of `RateLimit`
  and the seconds of `Retry-After` match any number; list headers (`Allow`, `Vary`, the
  `Access-Control-*` lists) are compared as sets. Anywhere else, `…` inside a string or a
  header value matches any run of characters (e.g. an abbreviated token `eyJhbGciOi…`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from backend.errors import title_for

ELLIPSIS = "…"
BASE_URL = "http://localhost:5000"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
REQUEST_LINE = re.compile(rf"^({'|'.join(METHODS)}) (/\S*)(?: HTTP/1\.1)?$")
STATUS_LINE = re.compile(r"^HTTP/1\.1 (\d{3}) (.+)$")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)\s*$")
DIRECTIVE = re.compile(r"<!--\s*([a-z-]+):(.*?)-->", re.DOTALL)
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SHELL_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
CAPTURE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(body|header)((?:\.[^\s.,]+)*)\s*$")
TIMESTAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z"
# Documented values of these shapes stand for any value of the same shape.
SHAPES = (
    (re.compile(TIMESTAMP), TIMESTAMP),
    (re.compile(r'"[0-9a-f]{32}"'), r'"[0-9a-f]{32}"'),
    (re.compile(r"\b[0-9a-f]{32}\b"), r"[0-9a-f]{32}"),
)
# Numbers in these header values depend on the clock, not on the request.
CLOCK_HEADERS = {
    "retry-after": (re.compile(r"\d+"), r"\d+"),
    "ratelimit": (re.compile(r"t=\d+"), r"t=\d+"),
}
# Headers whose value is a comma-separated set: the order of the items does not matter.
SET_HEADERS = frozenset(
    {
        "allow",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-expose-headers",
        "vary",
    }
)


class FormatError(ValueError):
    """The document breaks the example format (the message names the line)."""


@dataclass(frozen=True)
class Block:
    """A fenced code block of the document."""

    info: str
    text: str
    line: int  # 1-based line of the opening fence
    gap_after: str = ""  # the document text between this block and the next one


@dataclass(frozen=True)
class Request:
    """A documented request."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: str
    curl: bool = False


@dataclass(frozen=True)
class Expected:
    """A documented response."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: str


@dataclass(frozen=True)
class Capture:
    """A value to keep from a response: `body.a.0.b` or `header.Name`."""

    name: str
    source: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class Example:
    """A request, the response it must get, and its directives."""

    line: int
    request: Request
    expected: Expected
    captures: tuple[Capture, ...] = ()
    repeat_until: int | None = None
    skip: str | None = None

    @property
    def label(self) -> str:
        """Name the example by its line and request line."""
        return f"line {self.line}: {self.request.method} {self.request.target}"


@dataclass
class Outcome:
    """What running one example gave."""

    example: Example
    status: int
    headers: list[tuple[str, str]]
    body: str
    problems: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ parsing


def fenced_blocks(document: str) -> list[Block]:
    """Return the fenced code blocks of a markdown document, with the text after each."""
    lines = document.splitlines()
    blocks: list[tuple[str, str, int, int]] = []  # info, text, first line, last line
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        marker, info, start = opening.group(1), opening.group(2), index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith(marker[0] * len(marker)):
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise FormatError(f"line {start + 1}: the fenced block is never closed")
        blocks.append((info, "\n".join(body), start, index))
        index += 1
    result = []
    for position, (info, text, start, end) in enumerate(blocks):
        next_start = blocks[position + 1][2] if position + 1 < len(blocks) else len(lines)
        gap = "\n".join(lines[end + 1 : next_start])
        result.append(Block(info, text, start + 1, gap))
    return result


def _split_message(text: str) -> tuple[str, list[tuple[str, str]], str]:
    """Split an HTTP message into its first line, headers and body."""
    head, _, body = text.strip("\n").partition("\n\n")
    first, *header_lines = head.split("\n")
    headers = []
    for raw in header_lines:
        name, colon, value = raw.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise FormatError(f"not a header line: {raw!r}")
        headers.append((name.strip(), value.strip()))
    return first.strip(), headers, body.strip("\n")


def parse_http_request(text: str) -> Request:
    """Parse a request written as an HTTP message."""
    first, headers, body = _split_message(text)
    match = REQUEST_LINE.match(first)
    if not match:
        raise FormatError(f"not a request line: {first!r}")
    return Request(match.group(1), match.group(2), tuple(headers), body)


def parse_curl(text: str) -> Request:
    """Parse a request written as one curl command."""
    words = shlex.split(text.replace("\\\n", " "), comments=True)
    if not words or words[0] != "curl":
        raise FormatError("a sh example must be one curl command")
    method, url, body = "", "", ""
    headers: list[tuple[str, str]] = []
    arguments = iter(words[1:])
    for word in arguments:
        if word in {"-i", "-s", "-si", "-is", "--include", "--silent"}:
            continue
        if word in {"-X", "--request", "-H", "--header", "-d", "--data", "--data-raw"}:
            value = next(arguments, None)
            if value is None:
                raise FormatError(f"curl option {word} needs a value")
            if word in {"-X", "--request"}:
                method = value
            elif word in {"-H", "--header"}:
                name, _, header_value = value.partition(":")
                headers.append((name.strip(), header_value.strip()))
            else:
                body = value
        elif word.startswith("-"):
            raise FormatError(f"unsupported curl option {word}")
        elif url:
            raise FormatError(f"curl command with two URLs: {url!r} and {word!r}")
        else:
            url = word
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != BASE_URL:
        raise FormatError(f"curl URL must start with {BASE_URL}: {url!r}")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return Request(method or ("POST" if body else "GET"), target, tuple(headers), body, curl=True)


def parse_response(text: str) -> Expected:
    """Parse a documented response."""
    first, headers, body = _split_message(text)
    match = STATUS_LINE.match(first)
    if not match:
        raise FormatError(f"not a status line: {first!r}")
    return Expected(int(match.group(1)), match.group(2).strip(), tuple(headers), body)


def parse_captures(text: str) -> tuple[Capture, ...]:
    """Parse `name = body.path, name = header.Name`."""
    captures = []
    for item in text.split(","):
        match = CAPTURE.match(item)
        if not match:
            raise FormatError(f"not a capture: {item.strip()!r} (use name = body.a.b)")
        path = tuple(part for part in match.group(3).split(".") if part)
        if match.group(2) == "header" and len(path) != 1:
            raise FormatError(f"a header capture names one header: {item.strip()!r}")
        captures.append(Capture(match.group(1).lower(), match.group(2), path))
    return tuple(captures)


def _is_request(block: Block) -> bool:
    """Tell whether a block is a documented request."""
    if block.info == "http":
        return not block.text.lstrip().startswith("HTTP/")
    return block.info in {"sh", "bash", "shell"} and block.text.lstrip().startswith("curl")


def parse_examples(document: str) -> list[Example]:
    """Return every example of the document in order; raise FormatError on a broken one."""
    blocks = fenced_blocks(document)
    examples = []
    position = 0
    while position < len(blocks):
        block = blocks[position]
        position += 1
        if block.info == "http" and not _is_request(block):
            raise FormatError(f"line {block.line}: a response block without a request before it")
        if not _is_request(block):
            continue
        following = blocks[position] if position < len(blocks) else None
        if block.gap_after.strip() or following is None or following.info != "http":
            raise FormatError(f"line {block.line}: a request must be followed by its response")
        try:
            request = (
                parse_curl(block.text) if block.info != "http" else parse_http_request(block.text)
            )
            expected = parse_response(following.text)
        except FormatError as error:
            raise FormatError(f"line {block.line}: {error}") from None
        position += 1
        examples.append(_with_directives(block.line, request, expected, following.gap_after))
    return examples


def _with_directives(line: int, request: Request, expected: Expected, gap: str) -> Example:
    """Build an example with the directives written after its response."""
    captures: tuple[Capture, ...] = ()
    repeat_until: int | None = None
    skip: str | None = None
    for name, raw in DIRECTIVE.findall(gap):
        value = raw.strip()
        if name == "capture":
            try:
                captures += parse_captures(value)
            except FormatError as error:
                raise FormatError(f"line {line}: {error}") from None
        elif name == "repeat-until" and value.isdigit():
            repeat_until = int(value)
        elif name == "skip" and value:
            skip = value
        else:
            raise FormatError(f"line {line}: unknown directive <!-- {name}: {value} -->")
    return Example(line, request, expected, captures, repeat_until, skip)


# ----------------------------------------------------------------------------- matching


def _value_pattern(documented: str, variables: Mapping[str, str], header: str = "") -> str:
    """Turn a documented value into a regular expression (placeholders become exact values)."""
    pieces = []
    position = 0
    for match in PLACEHOLDER.finditer(documented):
        pieces.append(_literal_pattern(documented[position : match.start()], header))
        pieces.append(re.escape(lookup(variables, match.group(1))))
        position = match.end()
    pieces.append(_literal_pattern(documented[position:], header))
    return "".join(pieces)


def _literal_pattern(text: str, header: str) -> str:
    """Escape literal text, turning volatile shapes and `…` into wildcards."""
    rules = [*SHAPES]
    if header.lower() in CLOCK_HEADERS:
        rules.insert(0, CLOCK_HEADERS[header.lower()])
    return _apply_rules(text, rules)


def _apply_rules(text: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    """Escape `text`, replacing the first rule's matches by its pattern, recursively."""
    if not rules:
        return ".*?".join(re.escape(part) for part in text.split(ELLIPSIS))
    (shape, pattern), rest = rules[0], rules[1:]
    parts = []
    position = 0
    for match in shape.finditer(text):
        parts.append(_apply_rules(text[position : match.start()], rest))
        parts.append(pattern)
        position = match.end()
    parts.append(_apply_rules(text[position:], rest))
    return "".join(parts)


def value_matches(
    documented: str, actual: str, variables: Mapping[str, str] | None = None, header: str = ""
) -> bool:
    """Tell whether an actual string is what the documented one describes."""
    if header.lower() in SET_HEADERS:
        return _items(documented) == _items(actual)
    pattern = _value_pattern(documented, variables or {}, header)
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


def _items(value: str) -> set[str]:
    """Split a comma-separated header value into its items, ignoring case and spacing."""
    return {item.strip().lower() for item in value.split(",") if item.strip()}


def json_differences(documented: Any, actual: Any, where: str = "body") -> list[str]:
    """List how an actual JSON value departs from the documented one (empty when it matches)."""
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {json.dumps(actual)}"]
        problems = []
        open_ended = ELLIPSIS in documented
        keys = [key for key in documented if key != ELLIPSIS]
        missing = [key for key in keys if key not in actual]
        extra = [key for key in actual if key not in documented]
        if missing:
            problems.append(f"{where}: missing keys {missing}")
        if extra and not open_ended:
            problems.append(f"{where}: undocumented keys {extra}")
        for key in keys:
            if key in actual:
                problems += json_differences(documented[key], actual[key], f"{where}.{key}")
        return problems
    if isinstance(documented, list):
        if not isinstance(actual, list):
            return [f"{where}: expected an array, got {json.dumps(actual)}"]
        if len(documented) != len(actual):
            return [f"{where}: expected {len(documented)} items, got {len(actual)}"]
        problems = []
        for index, (doc_item, actual_item) in enumerate(zip(documented, actual, strict=True)):
            problems += json_differences(doc_item, actual_item, f"{where}.{index}")
        return problems
    if isinstance(documented, str):
        if isinstance(actual, str) and value_matches(documented, actual):
            return []
    elif type(documented) is type(actual) and documented == actual:
        return []
    return [f"{where}: expected {json.dumps(documented)}, got {json.dumps(actual)}"]


def lookup(variables: Mapping[str, str], name: str) -> str:
    """Return a captured value by name (names ignore case)."""
    try:
        return variables[name.lower()]
    except KeyError:
        raise FormatError(f"no value captured as {name!r} before this example") from None


def substitute(text: str, variables: Mapping[str, str], *, shell: bool = False) -> str:
    """Replace `{{name}}` (or `$NAME` in a curl command) by captured values."""
    if shell:
        return SHELL_VARIABLE.sub(
            lambda match: lookup(variables, match.group(1) or match.group(2)), text
        )
    return PLACEHOLDER.sub(lambda match: lookup(variables, match.group(1)), text)


def response_problems(
    expected: Expected,
    status: int,
    headers: list[tuple[str, str]],
    body: str,
    variables: Mapping[str, str],
) -> list[str]:
    """List how an actual response departs from the documented one."""
    problems = []
    if status != expected.status:
        problems.append(f"status: expected {expected.status}, got {status}")
    if expected.reason.lower() != title_for(expected.status).lower():
        problems.append(f"status line: {expected.reason!r} is not the phrase of {expected.status}")
    actual_headers: dict[str, list[str]] = {}
    for name, value in headers:
        actual_headers.setdefault(name.lower(), []).append(value)
    for name, documented in expected.headers:
        values = actual_headers.get(name.lower())
        if not values:
            problems.append(f"header {name}: missing")
        elif not any(value_matches(documented, value, variables, name) for value in values):
            problems.append(f"header {name}: expected {documented!r}, got {values}")
    problems += body_problems(expected.body, body, variables)
    return problems


def body_problems(documented: str, actual: str, variables: Mapping[str, str]) -> list[str]:
    """Compare a documented body (JSON, or text with `…`) with the actual one."""
    if not documented.strip():
        return [] if not actual.strip() else [f"body: expected none, got {actual[:200]!r}"]
    text = substitute(documented, variables)
    try:
        expected_json = json.loads(text)
    except ValueError:
        if value_matches(documented, actual, variables):
            return []
        return [f"body: expected {documented[:200]!r}, got {actual[:200]!r}"]
    try:
        actual_json = json.loads(actual)
    except ValueError:
        return [f"body: expected JSON, got {actual[:200]!r}"]
    return json_differences(expected_json, actual_json)


def captured_value(capture: Capture, headers: list[tuple[str, str]], body: str) -> str:
    """Read a captured value from a response, as text."""
    if capture.source == "header":
        for name, value in headers:
            if name.lower() == capture.path[0].lower():
                return value
        raise FormatError(f"cannot capture {capture.name}: no header {capture.path[0]}")
    value: Any = json.loads(body)
    for part in capture.path:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise FormatError(f"cannot capture {capture.name}: no {'.'.join(capture.path)}")
    return value if isinstance(value, str) else json.dumps(value)


# ------------------------------------------------------------------------------ running

Send = Callable[[Request], tuple[int, list[tuple[str, str]], str]]
MAX_REPEATS = 50


def run_examples(examples: list[Example], send: Send) -> Iterator[Outcome]:
    """Run the examples in order, capturing values; yield what each one got."""
    variables: dict[str, str] = {}
    for example in examples:
        if example.skip:
            continue
        try:
            request = resolve(example.request, variables)
        except FormatError as error:
            yield Outcome(example, 0, [], "", [str(error)])
            continue
        status, headers, body = send(request)
        repeats = 0
        while (
            example.repeat_until is not None
            and status != example.repeat_until
            and repeats < MAX_REPEATS
        ):
            status, headers, body = send(request)
            repeats += 1
        outcome = Outcome(example, status, headers, body)
        try:
            outcome.problems = response_problems(example.expected, status, headers, body, variables)
            for capture in example.captures:
                variables[capture.name] = captured_value(capture, headers, body)
        except (FormatError, ValueError) as error:
            outcome.problems.append(str(error))
        yield outcome


def resolve(request: Request, variables: Mapping[str, str]) -> Request:
    """Return the request with its placeholders replaced by captured values."""
    shell = request.curl
    return Request(
        request.method,
        substitute(request.target, variables, shell=shell),
        tuple((name, substitute(value, variables, shell=shell)) for name, value in request.headers),
        substitute(request.body, variables, shell=shell),
        curl=shell,
    )


def render(status: int, headers: list[tuple[str, str]], body: str) -> str:
    """Write an actual response in the document's format (to paste when docs must change)."""
    lines = [f"HTTP/1.1 {status} {title_for(status)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body:
        try:
            text = pretty_json(json.loads(body))
        except ValueError:
            text = body
        lines += ["", text]
    return "\n".join(lines)


def pretty_json(value: Any, indent: int = 0, width: int = 92) -> str:
    """Indent JSON like the document: containers that fit on a line stay on one line."""
    if isinstance(value, dict) and "items" in value:  # a page: its items first
        value = {"items": value["items"], **{k: v for k, v in value.items() if k != "items"}}
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or (indent and len(flat) + indent <= width):
        return flat
    if not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        inner = [pad + pretty_json(item, indent + 2, width) for item in value]
        return "[\n" + ",\n".join(inner) + "\n" + " " * indent + "]"
    inner = [
        f"{pad}{json.dumps(key, ensure_ascii=False)}: {pretty_json(item, indent + 2, width)}"
        for key, item in value.items()
    ]
    return "{\n" + ",\n".join(inner) + "\n" + " " * indent + "}"
