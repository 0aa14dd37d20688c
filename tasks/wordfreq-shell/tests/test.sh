#!/bin/bash
# Hidden verifier of the wordfreq-shell task (Harbor style).
#
# Each folder under cases/ holds input.txt (stdin), expected.txt (exact stdout), and
# optionally args (the arguments, one line) and status (the expected exit code, default 0).
# Prints PASS/FAIL per case, writes $BENCHCTL_VERIFIER_DIR/reward.txt (1 if every case
# passes, else 0) and junit.xml, and exits 0 only if every case passes.

export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
workspace=${BENCHCTL_WORKSPACE:-$PWD}
out_dir=${BENCHCTL_VERIFIER_DIR:-$PWD}
script=$workspace/wordfreq.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

total=0
failed=0
cases_xml=""
for case_dir in "$here"/cases/*/; do
    name=$(basename "$case_dir")
    total=$((total + 1))
    args=()
    if [ -f "$case_dir/args" ]; then
        read -r -a args < "$case_dir/args"
    fi
    want_status=0
    if [ -f "$case_dir/status" ]; then
        want_status=$(cat "$case_dir/status")
    fi
    reason=""
    if [ ! -f "$script" ]; then
        reason="wordfreq.sh not found in the workspace"
    else
        timeout 10 bash "$script" "${args[@]}" < "$case_dir/input.txt" \
            > "$scratch/$name.out" 2> "$scratch/$name.err"
        status=$?
        if [ "$status" = 124 ]; then
            reason="timed out after 10 s"
        elif [ "$want_status" = 0 ] && [ "$status" != 0 ]; then
            reason="exit status $status, want 0"
        elif [ "$want_status" != 0 ] && [ "$status" = 0 ]; then
            reason="exit status 0, want non-zero (invalid arguments)"
        elif ! cmp -s "$scratch/$name.out" "$case_dir/expected.txt"; then
            reason="output differs from expected.txt"
        fi
    fi
    if [ -z "$reason" ]; then
        echo "PASS $name"
        cases_xml+="<testcase classname=\"wordfreq\" name=\"$name\"/>"
    else
        failed=$((failed + 1))
        echo "FAIL $name: $reason"
        if [ -f "$scratch/$name.out" ]; then
            diff -u --label expected "$case_dir/expected.txt" --label actual "$scratch/$name.out" \
                | head -n 30 | sed 's/^/    /'
        fi
        cases_xml+="<testcase classname=\"wordfreq\" name=\"$name\"><failure message=\"$reason\"/></testcase>"
    fi
done

{
    echo '<?xml version="1.0" encoding="utf-8"?>'
    echo "<testsuites><testsuite name=\"wordfreq-shell\" tests=\"$total\" failures=\"$failed\" errors=\"0\" skipped=\"0\">$cases_xml</testsuite></testsuites>"
} > "$out_dir/junit.xml"

echo "$((total - failed))/$total cases pass"
if [ "$total" -gt 0 ] && [ "$failed" = 0 ]; then
    echo 1 > "$out_dir/reward.txt"
    exit 0
fi
echo 0 > "$out_dir/reward.txt"
exit 1
