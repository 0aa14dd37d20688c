#!/bin/bash
# wordfreq.sh [N] - print the N most frequent words of standard input (default 10).
#
# A word is a maximal run of ASCII letters; words are compared case-insensitively and
# printed in lowercase. One line per word, "count word", most frequent first; words with
# the same count are in alphabetical order. N must be a positive integer.
#
# Usage: wordfreq.sh [N] < text

n=${1:-10}

tr -cs 'A-Za-z' '\n' | sort | uniq -c | sort -rn | head -n 10 | awk '{print $1, $2}'
