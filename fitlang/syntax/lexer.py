"""The lexer Lark's LALR parser reads tokens from: one compiled regular expression.

It produces exactly the tokens Lark's contextual lexer would for this grammar (the
grammar's terminals, in the grammar's priority order; a keyword only where the parser
accepts it, a name everywhere else), but scans with a single `re` pattern instead of
one match attempt per terminal, which made it the larger half of parsing a policy
(see docs/performance.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator

from lark import Token, UnexpectedCharacters
from lark.common import LexerConf
from lark.lexer import Lexer


def scan(conf: LexerConf, text: str, terminals: frozenset[str]) -> Iterator[re.Match[str]]:
    """The tokens of the grammar's `terminals` in `text`, without the parser (for reading a
    text that does not parse: the parser's error recovery), each match's `lastgroup` its
    terminal. Only these terminals are matched, in the lexer's order; whatever else the
    text holds is stepped over, as `finditer` does (in C: the reason for the subset)."""
    return _scanner(conf, terminals).finditer(text)


@functools.lru_cache(maxsize=4)
def _scanner(conf: LexerConf, terminals: frozenset[str]) -> re.Pattern[str]:
    # a pure function of the grammar: a memo
    return re.compile("|".join(f"(?P<{name}>{regex})" for name, regex in _patterns(conf)
                               if name in terminals))


def _patterns(conf: LexerConf) -> list[tuple[str, str]]:
    """(terminal, regex) of every terminal that is no keyword, in the order the lexer tries
    them: by priority, then the longer first. Their own groups made non-capturing: a match
    keeps a place for every group of the pattern, made and filled at each token (lexing an
    inventory policy at 50,000 nodes 0.205 -> 0.19 CPU s)."""
    return [(t.name, _CAPTURE.sub("(?:", t.pattern.to_regexp())) for t in _ordered(conf)
            if not (t.pattern.type == "str" and _NAME.match(t.pattern.value))]


_CAPTURE = re.compile(r"(?<!\\)\((?![?*])")  # `(` opening a capturing group


def _ordered(conf: LexerConf) -> list:
    return sorted(conf.terminals, key=lambda t: (-t.priority, -t.pattern.max_width,
                                                 -len(t.pattern.value), t.name))


def _attribute_line(patterns: dict[str, str], keywords: dict[str, str]) -> str:
    """An attribute whose value is one literal and ends it: `key = value`, blanks but no line
    break between the three, then what cannot go on with an expression (`}`, `;`, a name
    that is no operator); `key` and a name's value no keyword. The value is the token the
    scanner reads there (QUANTITY, NUMBER, STRING, NAME: their regexes, in its order); what
    it is, the one of its groups that matched (`value_QUANTITY`, ...). 45,054 of the 217,752
    tokens of an inventory policy at 50,000 nodes are such an `=`; each of those three
    tokens was a token made, a turn of the parser's loop and a node built from it."""
    name = patterns["NAME"]
    # the keywords by their first letter: a name's first character rules out all but a few
    # (one alternative a keyword, tried at every token, was a fifth of the parse)
    firsts = sorted({word[0] for word in keywords})
    words = "|".join(f"{first}(?:{'|'.join(sorted(w[1:] for w in keywords if w[0] == first))})"
                     for first in firsts)
    not_a_keyword = f"(?=[A-Za-z_])(?!(?:{words})(?![A-Za-z0-9_]))"
    values = "|".join(f"(?P<value_{kind}>{not_a_keyword if kind == 'NAME' else ''}{patterns[kind]})"
                      for kind in patterns if kind in ("QUANTITY", "NUMBER", "STRING", "NAME"))
    ends = f"(?=[{_BLANKS}]*(?:[}};]|{not_a_keyword}[A-Za-z_]))"
    # atomic: a name or value is the token the scanner reads, never less of it (`kind = job`
    # before `require`: not `jo` before `b`)
    return (f"(?P<ATTRIBUTE>(?P<key>{not_a_keyword}(?>{name}))[ \\t]*=(?!=)[ \\t]*"
            f"(?P<value>(?>{values})){ends})")


# what the grammar ignores between tokens (`%ignore /[ \t\f\r\n\ufeff]+/`); no terminal starts with one
_BLANKS = " \t\f\r\n\ufeff"
# terminals whose text is also a valid NAME: they are keywords only where the parser wants one
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class FastLexer(Lexer):
    __future_interface__ = 1

    comment_sink: Callable[[Token], None] | None = None

    def __init__(self, conf: LexerConf) -> None:
        keywords: dict[str, str] = {}
        for terminal in _ordered(conf):
            pattern = terminal.pattern
            if pattern.type == "str" and _NAME.match(pattern.value):
                keywords[pattern.value] = terminal.name
        patterns = _patterns(conf)
        self.keywords = keywords
        self.ignore = set(conf.ignore)
        self.names = {name for name, _ in patterns}
        groups = "|".join(f"(?P<{name}>{regex})" for name, regex in patterns)
        self.scanner = re.compile(groups)
        # The blanks before a token matched with it (possessive: never given back), where the
        # blanks are an ignored terminal no other terminal starts with: half the matches and
        # turns of the loop below are blanks. Where the token after them does not match (the
        # end of the text, a character no terminal has), `scanner` reads the blanks alone.
        blanks = next((regex for name, regex in patterns
                       if name in self.ignore and re.fullmatch(regex, _BLANKS)), None)
        self.after_blanks = re.compile(f"(?:{blanks})?+(?:{groups})") if blanks else None
        self.terminal_names = {t.name for t in conf.terminals}
        # the same, an attribute of one literal first (`lex(..., attributes=True)`)
        attribute = _attribute_line(dict(patterns), keywords)
        self.attribute_first = re.compile(f"(?:{blanks})?+(?:{attribute}|{groups})") if blanks else None

    def lex(self, lexer_state, parser_state, attributes: bool = False) -> Iterator[Token]:
        """The tokens of the text; with `attributes`, an attribute of one literal on a line
        of its own (`cpu = 2`, `zone = "a"`, `kind = job`) is one token of kind `ATTRIBUTE`
        whose value is its match (`_attribute_line`'s groups), for the parser to build."""
        text = lexer_state.text.text if hasattr(lexer_state.text, "text") else lexer_state.text
        states = parser_state.parse_conf.parse_table.states
        keywords, ignore, sink = self.keywords, self.ignore, FastLexer.comment_sink
        match_at = self.scanner.match
        match_after_blanks = ((attributes and self.attribute_first) or self.after_blanks
                              or self.scanner).match
        # a Token made as `Token._future_new` makes it (`Token.__new__` less its check for the
        # deprecated `type_` keyword: a fifth of lexing), its slots set here: a call less a token
        new_str = str.__new__
        position, line, line_start, end = 0, 1, 0, len(text)
        while position < end:
            match = match_after_blanks(text, position)
            if match is None:  # blanks to the end, or an unexpected character
                match = match_at(text, position)
                if match is None:
                    raise UnexpectedCharacters(text, position, line, position - line_start + 1,
                                               allowed=self.terminal_names - ignore,
                                               state=parser_state)
            # every alternative of the scanner is a named group: `lastgroup` is never None (no
            # cast: a call per token)
            kind: str = match.lastgroup  # type: ignore[assignment]
            value = match.group(kind)
            after = match.end()
            start = after - len(value)
            if start != position:  # blanks first: the lines they end
                blank_lines = text.count("\n", position, start)
                if blank_lines:
                    line += blank_lines
                    line_start = text.rfind("\n", position, start) + 1
                position = start
            newlines = value.count("\n")
            if kind in ignore:
                if sink is not None and kind in ("COMMENT", "BLOCK_COMMENT"):
                    sink(self._token(kind, value, position, line, line_start, newlines, after, text))
            else:
                if kind == "NAME" and value in keywords:
                    keyword = keywords[value]
                    if keyword in states[parser_state.position]:
                        kind = keyword
                elif kind == "NOT_IN" and kind not in states[parser_state.position]:
                    kind, value, after, newlines = "NOT", "not", position + 3, 0
                elif kind == "ATTRIBUTE":  # on one line: where it starts, and its match
                    token = new_str(Token, value)
                    token.type, token.start_pos, token.value = kind, position, match
                    token.line, token.column = line, position - line_start + 1
                    yield token
                    position = after
                    continue
                if newlines:
                    token = self._token(kind, value, position, line, line_start, newlines, after, text)
                else:  # most tokens: one line; made as `Token()` makes them, without its checks
                    column = position - line_start + 1
                    token = new_str(Token, value)
                    token.type, token.start_pos, token.value = kind, position, value
                    token.line, token.column, token.end_line = line, column, line
                    token.end_column, token.end_pos = column + after - position, after
                lexer_state.last_token = token
                yield token
            if newlines:
                line += newlines
                line_start = text.rfind("\n", position, after) + 1
            position = after

    @staticmethod
    def _token(kind: str, value: str, position: int, line: int, line_start: int, newlines: int,
               after: int, text: str) -> Token:
        if newlines:
            last_break = text.rfind("\n", position, after)
            end_line, end_column = line + newlines, after - last_break
        else:
            end_line, end_column = line, after - line_start + 1
        return Token(kind, value, position, line, position - line_start + 1, end_line, end_column,
                     after)
