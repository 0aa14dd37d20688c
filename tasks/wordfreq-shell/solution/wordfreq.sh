#!/bin/bash
# wordfreq.sh [N] - print the N most frequent words of standard input (default 10).
#
# A word is a maximal run of ASCII letters; words are compared case-insensitively and
# printed in lowercase. One line per word, "count word", most frequent first; words with
# the same count are in alphabetical order. N must be a positive integer.
#
# Usage: wordfreq.sh [N] < text

export LC_ALL=C

n=${1:-10}
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: wordfreq.sh [N] < text   (N a positive integer, got '$n')" >&2
    exit 2
fi

# awk (not head) applies the limit so no stage of the pipeline is cut off early.
tr 'A-Z' 'a-z' |
    tr -cs 'a-z' '\n' |
    awk 'NF' |
    sort |
    uniq -c |
    sort -k1,1nr -k2,2 |
    awk -v n="$n" 'NR <= n { print $1, $2 }'
