#!/bin/bash
# The public API is enough for a program outside the project: list_tree,
# built against include/dits only, lists HEAD's tree of a repository the
# dits program made, file for file as `dits ls-files` lists the index.
set -eu
DITS=$(realpath "$1")
LIST_TREE=$(realpath "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DITS_PROXY_AUTO=0 DITS_AUTHOR_NAME=t DITS_AUTHOR_EMAIL=t@example.com
cd "$tmp"
"$DITS" init repo >/dev/null
cd repo
mkdir -p a/b
printf 'one\n' >a.txt
printf 'two\n' >a/b/c.txt
head -c 300000 /dev/urandom >a/big.bin
"$DITS" add . >/dev/null
"$DITS" commit -m first >/dev/null
"$LIST_TREE" . HEAD >../tree.out 2>../tree.err
"$DITS" ls-files | sed 's/ \[.\]\t/\t/' | sort >../index.out
sort ../tree.out >../tree.sorted
if ! cmp -s ../tree.sorted ../index.out; then
	echo "list_tree and ls-files differ:"; diff ../tree.sorted ../index.out; exit 1
fi
[ "$(wc -l <../tree.out)" -eq 3 ] || { echo "expected 3 files, got:"; cat ../tree.out; exit 1; }
grep -q "^repository $tmp/repo/.dits, format 1\$" ../tree.err || { echo "stderr:"; cat ../tree.err; exit 1; }
# A revision that does not exist: one line, non-zero.
if "$LIST_TREE" . nosuch >/dev/null 2>../bad.err; then echo "list_tree accepted a bad revision"; exit 1; fi
grep -q "nosuch" ../bad.err || { echo "no reason naming the revision:"; cat ../bad.err; exit 1; }
echo "1 passed, 0 failed"
