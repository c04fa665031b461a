"""Bigram signatures: a 128-bit summary of a text, a cheap prefilter for substring tests.

For every two consecutive characters `a b` (Unicode code points) of the text, two bits of its
signature are set (`bigram_bits`): one of the low 64 by one hash of the pair, one of the high
64 by another, as a Bloom filter with two hash functions. A needle of two characters or more
is a substring of the text only if each of its bigrams is one of the text's, so
`signature & mask = mask`, where `mask` is the needle's bits, holds for every text containing
it: a necessary condition, which DuckDB checks on an integer far faster than `contains` scans a
string. A needle of one character has no bigram and gets no mask. (The 64-bit signature of one
bit per bigram kept 7.7% of 4.5M contacts for `bob`, this one 1.5%; docs/benchmarks.md.)

The signature is computed in DuckDB at index time (`duckdb_signature`, vectorized, no Python per
row) and the mask in Python from the needle the query binds (`mask`): both use the same bit of a
code-point pair, so the two agree on every text. Only DuckDB's search table has such columns
(docs/schema.md): PostgreSQL answers substrings from its trigram indexes.
"""

from __future__ import annotations

#: Bits of a signature (a UHUGEINT column), two halves of HALF bits.
BITS = 128
HALF = 64
#: Multipliers of the two bits' hashes (multiplicative hashing: 2^32 / golden ratio, and
#: xxHash's second 32-bit prime).
_GOLDEN = 2654435761
_SECOND = 2246822519
#: The name of a signature column ends so: a registry naming another column (a warehouse
#: built by an older crmpipe, whose 64-bit signatures these masks don't fit) gets no prefilter.
SUFFIX = "_sig128"
#: Larger than any Unicode code point (0x10FFFF = 1,114,111) times 1031 plus one fits the
#: pair's number below 2^31, and that number times _GOLDEN or _SECOND below 2^63: no overflow
#: in SQL.
_PAIR = 1031


def bigram_bits(first: int, second: int) -> int:
    """The two bits (one of 0..63, one of 64..127) of the bigram of code points `first`,
    `second`, as an integer."""
    pair = first * _PAIR + second
    low = ((pair * _GOLDEN) >> 32) & (HALF - 1)
    high = HALF + (((pair * _SECOND) >> 32) & (HALF - 1))
    return (1 << low) | (1 << high)


def current(column: str) -> bool:
    """Whether `column` (a registry's signature column) holds signatures as this module
    computes them."""
    return column.endswith(SUFFIX)


def signature(text: str) -> int:
    """The signature of `text` as DuckDB's `duckdb_signature` computes it (0 for a text of
    fewer than two characters)."""
    bits = 0
    for a, b in zip(text, text[1:], strict=False):
        bits |= bigram_bits(ord(a), ord(b))
    return bits


def mask(needle: str) -> int | None:
    """The bits every text containing `needle` has set; None for a needle under two
    characters (no bigram: no prefilter)."""
    if len(needle) < 2:
        return None
    return signature(needle)


def duckdb_signature(text: str) -> str:
    """DuckDB SQL of the signature of the text expression `text` (UHUGEINT): NULL where
    `text` is NULL, 0 where it has fewer than two characters. `string_split(text, '')` cuts it
    into code points (as Python iterates a str), `ord` gives each one's number."""
    points = f"list_transform(string_split({text}, ''), lambda ch_: ord(ch_))"
    pair = f"(p_[i_] * {_PAIR} + q_)"
    low = f"CAST((({pair} * {_GOLDEN}) >> 32) & {HALF - 1} AS UHUGEINT)"
    high = f"CAST({HALF} + ((({pair} * {_SECOND}) >> 32) & {HALF - 1}) AS UHUGEINT)"
    one = "CAST(1 AS UHUGEINT)"
    bits = (
        f"list_aggregate(list_transform(p_[2:], lambda q_, i_: "
        f"({one} << {low}) | ({one} << {high})), 'bit_or')"
    )
    # The code points are bound once, as the parameter of a lambda over a one-element list
    # (a correlated subquery would be planned as a join per row).
    return (
        f"CAST(CASE WHEN length({text}) < 2 THEN CAST(0 AS UHUGEINT) "
        f"ELSE list_transform([{points}], lambda p_: {bits})[1] END AS UHUGEINT)"
    )
