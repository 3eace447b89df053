"""What a check's SQL may be: one read-only query, refused at load otherwise.

This is the first of several layers (README "A read-only SQL sandbox"); each
holds on its own. The database refuses writes anyway: PostgreSQL sessions are
read-only from the moment they connect and every statement goes through the
extended protocol, which takes one statement only; SQLite files are opened
read-only behind an authorizer. Validation exists so that a mistake is an
error at `validate` that names the check and the key, not an UNKNOWN at 3 AM.

The text is read by sqlparse's lexer, so comments, quoted strings and dollar
quotes are tokens, not text for a regex to trip over. Where that lexer could
read a query differently from PostgreSQL or SQLite (a backslash before a
quote, a `#` comment) the query is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlparse import tokens as T
from sqlparse.exceptions import SQLParseError
from sqlparse.lexer import Lexer

# A query may start with these (after comments and opening parentheses).
STARTS = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})
# Keywords that make a SELECT write or lock, wherever they stand: a
# data-modifying CTE, SELECT ... INTO, SELECT ... FOR UPDATE/SHARE.
WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "INTO", "COPY"})
LOCKS = frozenset({"UPDATE", "SHARE", "NO", "KEY"})  # after FOR
# Functions that change the session or the server, or reach outside the
# transaction, even from a SELECT. The read-only transaction stops most of
# them anyway; these are refused so that a check never even tries.
FUNCTIONS = frozenset({
    "set_config", "pg_advisory_lock", "pg_advisory_lock_shared", "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared", "pg_cancel_backend",
    "pg_terminate_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_notify", "nextval",
    "setval", "lo_import", "lo_export", "lo_unlink", "lo_create", "lo_creat", "lo_from_bytea",
    "lo_put", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "dblink",
    "dblink_exec", "dblink_connect", "dblink_send_query", "query_to_xml", "query_to_xmlschema",
    "query_to_xml_and_xmlschema", "cursor_to_xml", "txid_current", "pg_current_xact_id",
    "load_extension", "writefile", "readfile", "edit", "fts3_tokenizer",
    # Survives DISCARD ALL: the next check on a reused session would see it.
    "setseed",
})


@dataclass(frozen=True)
class Token:
    kind: T._TokenType
    text: str

    @property
    def word(self) -> str:
        return self.text.strip('"`[]').upper()

    @property
    def code(self) -> bool:
        return self.kind not in T.Whitespace and self.kind not in T.Comment


def _tokens(query: str) -> list[Token]:
    try:
        lexer = Lexer.get_default_instance()  # type: ignore[no-untyped-call]
        return [Token(k, v) for k, v in lexer.get_tokens(query)]
    except SQLParseError as exc:
        raise ValueError(f"the query cannot be read as SQL: {exc}") from None


def _significant(tokens: list[Token]) -> Iterator[tuple[int, Token]]:
    return ((i, t) for i, t in enumerate(tokens) if t.code)


def _ambiguous(tokens: list[Token]) -> str | None:
    for t in tokens:
        if t.kind in T.Error:
            return f"the query does not read as SQL near {t.text[:20]!r}"
        if t.kind in T.Comment.Single and t.text.startswith("#"):
            return "'#' starts a comment only in MySQL; PostgreSQL reads it as an operator"
        if (t.kind in T.String or t.kind in T.Literal) and ("\\'" in t.text or '\\"' in t.text):
            return ("a backslash before a quote is read differently by PostgreSQL, SQLite "
                    "and this validator; write a quote inside a string as ''")
    return None


def single_statement(query: str) -> str:
    """The query without its trailing semicolon (and what follows it): the
    text that is sent, wrapped (see `bounded`). ValueError if it is not one
    read-only query."""
    tokens = _tokens(query)
    problem = _ambiguous(tokens)
    if problem:
        raise ValueError(problem)
    code = list(_significant(tokens))
    if not code:
        raise ValueError("the query is empty")
    end = len(tokens)
    semis = [i for i, t in code if t.kind in T.Punctuation and t.text == ";"]
    if semis:
        if semis[0] != code[-1][0] or len(semis) > 1:
            raise ValueError("only one statement is allowed (a ';' may only end the query)")
        end = semis[0]
        code = code[:-1]
        if not code:
            raise ValueError("the query is empty")
    first = next((t for _, t in code if t.text != "("), None)
    if first is None or first.kind not in T.Keyword or first.word not in STARTS:
        shown = first.text[:20] if first else "("
        raise ValueError(f"only a read-only query is allowed: SELECT, WITH, VALUES or TABLE, "
                         f"not {shown.upper()!r}")
    _refuse_writes([t for _, t in code])
    return "".join(t.text for t in tokens[:end])


def _refuse_writes(code: list[Token]) -> None:
    for i, t in enumerate(code):
        if t.kind in T.Keyword and t.word in WRITES:
            raise ValueError(f"{t.word} is not allowed in a check query: checks only read "
                             "(quote a column of that name: \"" + t.text.lower() + "\")")
        if t.kind in T.Keyword and t.word == "FOR" and i + 1 < len(code) and (
                code[i + 1].word in LOCKS):
            raise ValueError("FOR UPDATE/SHARE is not allowed in a check query: it locks rows")
        follows = code[i + 1] if i + 1 < len(code) else None
        called = follows is not None and follows.text == "("
        if called and t.text.strip('"').lower() in FUNCTIONS:
            raise ValueError(f"function {t.text.strip(chr(34)).lower()}() is not allowed in a "
                             "check query: it changes the session or reaches outside it")


def check_query(query: str) -> str:
    """A pydantic validator: the query as given, or ValueError."""
    single_statement(query)
    return query


def bounded(query: str, limit: int | None = None) -> str:
    """The query as the one statement sent: wrapped so that at most `limit`
    rows ever leave the server (a result of 10 million rows costs nothing
    here), and so that anything but a query is a syntax error there too.
    Without `limit`, the bind parameter :sample_limit is the limit."""
    cap = ":sample_limit" if limit is None else str(int(limit))
    return f"SELECT * FROM (\n{single_statement(query)}\n) AS bhm_result LIMIT {cap}"
