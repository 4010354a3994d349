"""Policy rules as data, in oslo.policy's check-string language, under the upstream rule names.

Supported: ``role:NAME``, ``rule:NAME``, ``KEY:%(target.attr)s`` / ``KEY:literal``,
``'literal':%(target.attr)s``, ``@`` (always), ``!`` (never), ``and``, ``or``, ``not`` and
parentheses.  Defaults come from each service; an operator's ``policy.yaml`` overrides rules by
name, exactly as with upstream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from .context import RequestContext
from .errors import Forbidden

Check = Callable[[dict, Mapping, "Enforcer"], bool]

# A check may contain "%(target.x)s"; only parentheses outside of those group.
_TOKEN = re.compile(r"\s*(\(|\)|(?:%\([^)]*\)|[^\s()])+)")


class PolicyError(ValueError):
    pass


def _tokenize(text: str) -> list[str]:
    return [m.group(1) for m in _TOKEN.finditer(text)]


def _leaf(token: str) -> Check:
    if token == "@":
        return lambda creds, target, enf: True
    if token == "!":
        return lambda creds, target, enf: False
    if ":" not in token:
        raise PolicyError(f"bad check {token!r}")
    kind, _, match = token.partition(":")
    if kind == "role":
        wanted = match.lower()
        return lambda creds, target, enf: wanted in creds["_roles_lower"]
    if kind == "rule":
        return lambda creds, target, enf: enf.check_rule(match, creds, target)

    def resolve(value: str, target: Mapping):
        m = re.fullmatch(r"%\((.+)\)s", value)
        if m:
            return target.get(m.group(1), _MISSING)
        return value

    if kind.startswith("'") and kind.endswith("'"):
        literal = kind[1:-1]
        return lambda creds, target, enf: str(resolve(match, target)) == literal

    def generic(creds, target, enf):
        expected = resolve(match, target)
        if expected is _MISSING or expected is None:
            return False
        actual = creds.get(kind)
        if isinstance(actual, list):
            return str(expected) in [str(a) for a in actual]
        return actual is not None and str(actual) == str(expected)

    return generic


_MISSING = object()


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def parse_or(self) -> Check:
        parts = [self.parse_and()]
        while self.peek() == "or":
            self.take()
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda c, t, e: any(p(c, t, e) for p in parts)

    def parse_and(self) -> Check:
        parts = [self.parse_not()]
        while self.peek() == "and":
            self.take()
            parts.append(self.parse_not())
        if len(parts) == 1:
            return parts[0]
        return lambda c, t, e: all(p(c, t, e) for p in parts)

    def parse_not(self) -> Check:
        if self.peek() == "not":
            self.take()
            inner = self.parse_not()
            return lambda c, t, e: not inner(c, t, e)
        return self.parse_atom()

    def parse_atom(self) -> Check:
        tok = self.peek()
        if tok is None:
            raise PolicyError("unexpected end of rule")
        if tok == "(":
            self.take()
            inner = self.parse_or()
            if self.peek() != ")":
                raise PolicyError("missing ')'")
            self.take()
            return inner
        return _leaf(self.take())


def parse(text: str) -> Check:
    text = text.strip()
    if not text:
        return lambda c, t, e: True  # oslo.policy: an empty rule always passes
    parser = _Parser(_tokenize(text))
    check = parser.parse_or()
    if parser.peek() is not None:
        raise PolicyError(f"unexpected {parser.peek()!r} in rule {text!r}")
    return check


class Enforcer:
    def __init__(self, defaults: Mapping[str, str], policy_file: str | None = None):
        self.rules: dict[str, str] = dict(defaults)
        if policy_file and Path(policy_file).exists():
            overrides = yaml.safe_load(Path(policy_file).read_text()) or {}
            if not isinstance(overrides, dict):
                raise PolicyError(f"{policy_file}: expected a mapping of rule names to check strings")
            self.rules.update({str(k): str(v) for k, v in overrides.items()})
        self._compiled = {name: parse(text) for name, text in self.rules.items()}

    def check_rule(self, name: str, creds: dict, target: Mapping) -> bool:
        check = self._compiled.get(name)
        return bool(check and check(creds, target, self))

    def allowed(self, ctx: RequestContext, rule: str, target: Mapping | None = None) -> bool:
        if rule not in self._compiled:
            raise PolicyError(f"no policy rule named {rule!r}")
        creds = ctx.creds()
        creds["_roles_lower"] = {r.lower() for r in ctx.roles}
        return self.check_rule(rule, creds, target or {})

    def enforce(self, ctx: RequestContext, rule: str, target: Mapping | None = None) -> None:
        if not self.allowed(ctx, rule, target):
            raise Forbidden(f"You are not authorized to perform the requested action: {rule}.")
