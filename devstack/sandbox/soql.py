"""SOQL subset parser: text -> a small AST, pure and schema-agnostic.

Why a hand parser: the subset the migration needs (field lists, parent paths, child subqueries,
WHERE with boolean logic, ORDER BY, LIMIT/OFFSET, COUNT) is small, and errors must come out as
Salesforce's MALFORMED_QUERY with a useful message. Schema checks happen in soql_eval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import malformed_query

KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "in",
        "like",
        "order",
        "by",
        "asc",
        "desc",
        "nulls",
        "first",
        "last",
        "limit",
        "offset",
        "null",
        "true",
        "false",
        "count",
    }
)

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""",
    re.VERBOSE,
)

_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "%": "\\%",
    "_": "\\_",
}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    @property
    def lower(self) -> str:
        return self.text.lower()


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | date | datetime | null | boolean
    value: object


@dataclass(frozen=True)
class SemiJoin:
    """`Id IN (SELECT AccountId FROM Contact WHERE ...)`: a semi-join (IN) or anti-join (NOT IN)
    subquery selecting one Id or reference field; the evaluator runs it first."""

    query: Query


@dataclass(frozen=True)
class Comparison:
    path: str
    op: str  # = != < <= > >= in notin like
    value: Literal | tuple[Literal, ...] | SemiJoin


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Comparison | BoolOp | Not


@dataclass(frozen=True)
class Count:
    path: str | None
    alias: str | None


@dataclass(frozen=True)
class OrderItem:
    path: str
    descending: bool = False
    nulls_last: bool | None = None


@dataclass
class Query:
    fields: list[str | Count | Query] = field(default_factory=list)
    sobject: str = ""
    where: Expr | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise malformed_query(f"unexpected token: '{text[pos : pos + 20]}' at column {pos + 1}")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    return tokens


def unescape(quoted: str) -> str:
    """Decode a SOQL string literal body. LIKE escapes (\\% \\_) stay escaped for the matcher."""
    out = []
    body = quoted[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise malformed_query(
                    f"Invalid string literal '{quoted}'. Illegal character "
                    f"sequence '\\{nxt}' in string literal."
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers ------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token | None:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise malformed_query(f"unexpected end of query: {self.text}")
        self.i += 1
        return tok

    def at_kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "ident" and tok.lower in words

    def expect_kw(self, word: str) -> None:
        tok = self.next()
        if tok.kind != "ident" or tok.lower != word:
            self.fail(tok, f"expecting '{word.upper()}'")

    def expect(self, text: str) -> None:
        tok = self.next()
        if tok.text != text:
            self.fail(tok, f"expecting '{text}'")

    def fail(self, tok: Token | None, what: str) -> None:
        where = f"unexpected token: '{tok.text}' at column {tok.pos + 1}" if tok else "end of query"
        raise malformed_query(f"\n{self.text}\nERROR: {where} ({what})")

    def ident(self) -> str:
        tok = self.next()
        if tok.kind != "ident" or tok.lower in KEYWORDS - {"count", "first", "last"}:
            self.fail(tok, "expecting a field or object name")
        return tok.text

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            self.fail(tok, "expecting a non-negative integer")
        return int(tok.text)

    # -- grammar ------------------------------------------------------------------------------
    def query(self, nested: bool = False) -> Query:
        q = Query()
        self.expect_kw("select")
        q.fields = self.select_list(nested)
        self.expect_kw("from")
        q.sobject = self.ident()
        if self.at_kw("where"):
            self.next()
            q.where = self.or_expr()
        if self.at_kw("order"):
            self.next()
            self.expect_kw("by")
            q.order_by = self.order_list()
        if self.at_kw("limit"):
            self.next()
            q.limit = self.integer()
        if self.at_kw("offset"):
            self.next()
            q.offset = self.integer()
        return q

    def select_list(self, nested: bool) -> list[str | Count | Query]:
        items: list[str | Count | Query] = []
        while True:
            tok = self.peek()
            if tok is not None and tok.text == "(":
                if nested:
                    self.fail(tok, "nested subqueries are not supported")
                self.next()
                items.append(self.query(nested=True))
                self.expect(")")
            elif (
                tok is not None
                and tok.lower == "count"
                and (nxt := self.peek(1))
                and nxt.text == "("
            ):
                self.next()
                self.next()
                path = None if (p := self.peek()) and p.text == ")" else self.ident()
                self.expect(")")
                alias = None
                if (a := self.peek()) and a.kind == "ident" and a.lower not in KEYWORDS:
                    alias = self.next().text
                items.append(Count(path, alias))
            else:
                items.append(self.ident())
            if (tok := self.peek()) is not None and tok.text == ",":
                self.next()
                continue
            return items

    def order_list(self) -> list[OrderItem]:
        items = []
        while True:
            path = self.ident()
            desc = False
            nulls_last: bool | None = None
            if self.at_kw("asc", "desc"):
                desc = self.next().lower == "desc"
            if self.at_kw("nulls"):
                self.next()
                if not self.at_kw("first", "last"):
                    self.fail(self.peek(), "expecting FIRST or LAST")
                nulls_last = self.next().lower == "last"
            items.append(OrderItem(path, desc, nulls_last))
            if (tok := self.peek()) is not None and tok.text == ",":
                self.next()
                continue
            return items

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.at_kw("or"):
            self.next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.at_kw("and"):
            self.next()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self) -> Expr:
        if self.at_kw("not"):
            self.next()
            return Not(self.not_expr())
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.next()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = self.ident()
        tok = self.next()
        if tok.kind == "op":
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(path, op, self.literal())
        if tok.kind == "ident" and tok.lower == "like":
            value = self.literal()
            if value.kind != "string":
                self.fail(tok, "LIKE needs a string")
            return Comparison(path, "like", value)
        if tok.kind == "ident" and tok.lower == "not" and self.at_kw("in"):
            self.next()
            return Comparison(path, "notin", self.in_operand())
        if tok.kind == "ident" and tok.lower == "in":
            return Comparison(path, "in", self.in_operand())
        self.fail(tok, "expecting a comparison operator")
        raise AssertionError  # unreachable

    def in_operand(self) -> tuple[Literal, ...] | SemiJoin:
        """The right side of IN / NOT IN: a list of literals or a semi-join subquery."""
        if (tok := self.peek(1)) is not None and tok.kind == "ident" and tok.lower == "select":
            self.expect("(")
            sub = self.query(nested=True)
            self.expect(")")
            return SemiJoin(sub)
        return self.literal_list()

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect("(")
        values = [self.literal()]
        while (tok := self.peek()) is not None and tok.text == ",":
            self.next()
            values.append(self.literal())
        self.expect(")")
        return tuple(values)

    def literal(self) -> Literal:
        tok = self.next()
        if tok.kind == "string":
            return Literal("string", unescape(tok.text))
        if tok.kind == "number":
            return Literal("number", float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind in ("date", "datetime"):
            return Literal(tok.kind, tok.text)
        if tok.kind == "ident" and tok.lower == "null":
            return Literal("null", None)
        if tok.kind == "ident" and tok.lower in ("true", "false"):
            return Literal("boolean", tok.lower == "true")
        self.fail(tok, "expecting a literal value")
        raise AssertionError  # unreachable


def parse(text: str) -> Query:
    """Parse one SOQL statement; raise SfError(400, MALFORMED_QUERY) when it is not valid."""
    parser = _Parser(text.strip())
    q = parser.query()
    if (tok := parser.peek()) is not None:
        parser.fail(tok, "expecting end of query")
    check_semi_joins(q)
    return q


#: Salesforce's limit on semi-join and anti-join subqueries per WHERE clause (SOQL reference,
#: "Semi-Join and Anti-Join Restrictions": "No more than two IN or NOT IN statements per WHERE
#: clause")
MAX_SEMI_JOINS = 2


def check_semi_joins(q: Query) -> None:
    """Where Salesforce allows a semi-join: only as a top-level conjunct of the outer query's
    WHERE (never under OR or NOT, never inside another semi-join or a child subquery), at most
    two of them. The OR and nesting texts are the ones Salesforce answers (as quoted by users);
    the texts for "more than two" and "nested in a semi-join" are not confirmed from the docs."""
    where = q.where
    if where is None:
        top: list[Expr] = []
    else:
        top = list(where.items) if isinstance(where, BoolOp) and where.op == "and" else [where]
    joins = [c for c in top if isinstance(c, Comparison) and isinstance(c.value, SemiJoin)]
    if len(joins) > MAX_SEMI_JOINS:
        raise malformed_query(f"Maximum {MAX_SEMI_JOINS} semi join sub-selects are allowed")
    for item in top:
        if isinstance(item, BoolOp) and item.op == "or" and _has_semi_join(item):
            raise malformed_query("Semi join sub-selects are not allowed with the 'OR' operator")
        if not (isinstance(item, Comparison)) and _has_semi_join(item):
            raise malformed_query(
                "Semi join sub-selects are only allowed at the top level WHERE expressions and "
                "not in nested WHERE expressions."
            )
    for join in joins:
        assert isinstance(join.value, SemiJoin)
        if join.value.query.where is not None and _has_semi_join(join.value.query.where):
            raise malformed_query("Nesting of semi join sub-selects is not supported")
    for sub in q.fields:
        if isinstance(sub, Query) and sub.where is not None and _has_semi_join(sub.where):
            raise malformed_query(
                "Semi join sub-selects are only allowed at the top level WHERE expressions and "
                "not in nested WHERE expressions."
            )


def _has_semi_join(expr: Expr) -> bool:
    if isinstance(expr, Comparison):
        return isinstance(expr.value, SemiJoin)
    if isinstance(expr, Not):
        return _has_semi_join(expr.item)
    return any(_has_semi_join(e) for e in expr.items)
