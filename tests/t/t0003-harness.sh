#!/usr/bin/env bash
# t0003: the harness itself. A step whose commands are not all chained with &&
# could pass while an assertion in it fails, so lib.sh refuses such a step
# before running it; these steps run tiny stories under lib.sh and check that
# the unchained ones fail, with the message that says why, and that chained
# ones (background jobs, loops, groups, here-documents) still pass.

. "$(dirname "$0")/lib.sh"

LIBSH=$TEST_DIR/lib.sh
export LIBSH

# story NAME STEP-KIND...: write $TRASH/NAME.sh, a story sourcing lib.sh whose
# steps are read from stdin (the text between the "#!" line and test_done)
story () {
	{
		printf '%s\n' '#!/usr/bin/env bash' '. "$LIBSH"' &&
			cat &&
			printf '%s\n' 'test_done'
	} >"$TRASH/$1.sh"
}

# run_story NAME: run it (in its own trash under $TRASH), output in NAME.out,
# exit status in $story_rc
run_story () {
	{ TMPDIR=$TRASH bash "$TRASH/$1.sh" >"$TRASH/$1.out" 2>&1; story_rc=$?; }
}

test_expect_success 'a step with a command not linked by && fails and is not run' '
	story unchained <<-\END &&
	test_expect_success "two commands, one newline between them" "
		touch \"\$TRASH/../first-ran\" &&
		echo one
		echo two
	"
	END
	run_story unchained &&
	assert_eq 1 "$story_rc" "exit status" &&
	assert_file_has unchained.out "^not ok 1 - two commands" &&
	assert_file_has unchained.out "broken && chain in step 1" &&
	assert_eq "0 passed, 1 failed" "$(tail -n 1 unchained.out)" &&
	assert_missing first-ran
'

test_expect_success 'a ";" between commands is a broken chain too' '
	story semicolon <<-\END &&
	test_expect_success "semicolon" "false; true"
	END
	run_story semicolon &&
	assert_eq 1 "$story_rc" &&
	assert_file_has semicolon.out "broken && chain in step 1"
'

test_expect_success 'an unchained test_expect_failure_exit step fails whatever code it expects' '
	story unchained-exit <<-\END &&
	test_expect_failure_exit "expects any failure" any "
		false
		false
	"
	test_expect_failure_exit "expects 1" 1 "
		true
		false
	"
	END
	run_story unchained-exit &&
	assert_eq 1 "$story_rc" &&
	assert_file_has unchained-exit.out "broken && chain in step 1" &&
	assert_file_has unchained-exit.out "broken && chain in step 2" &&
	assert_eq "0 passed, 2 failed" "$(tail -n 1 unchained-exit.out)"
'

test_expect_success 'a step ending in true, ":" or "|| true" is refused: it cannot fail' '
	story ends-true <<-\END &&
	test_expect_success "ends in || true" "
		false || true
	"
	test_expect_success "ends in true" "
		false &&
		true
	"
	test_expect_success "ends in || :" "false || :"
	test_expect_success "empty" "  "
	END
	run_story ends-true &&
	assert_eq 1 "$story_rc" &&
	assert_eq 4 "$(grep -c "cannot fail" ends-true.out)" &&
	assert_eq "0 passed, 4 failed" "$(tail -n 1 ends-true.out)"
'

test_expect_success 'a body that does not parse is refused' '
	story syntax <<-\END &&
	test_expect_success "unclosed if" "
		if true; then echo yes &&
		echo no
	"
	END
	run_story syntax &&
	assert_eq 1 "$story_rc" &&
	assert_file_has syntax.out "broken && chain in step 1"
'

test_expect_success 'chained steps pass: groups, background jobs, loops, here-documents, functions' '
	story chained <<-\END &&
	test_expect_success "all chained" "
		f () { echo from-f; } &&
		{ sleep 0.1 & } &&
		pid=\$! &&
		for i in 1 2 3; do
			test \$i -le 3 || return 1
		done &&
		cat >here <<-EOT &&
		a here-document
		EOT
		assert_file_has here \"here-document\" &&
		{ false; rc=\$?; } &&
		assert_eq 1 \$rc &&
		wait \$pid &&
		assert_eq from-f \"\$(f)\"
	"
	test_expect_failure_exit "a chained failure keeps its exit code" 3 "
		echo x &&
		(exit 3)
	"
	END
	run_story chained &&
	assert_eq 0 "$story_rc" "exit status" &&
	assert_eq "2 passed, 0 failed" "$(tail -n 1 chained.out)"
'

test_expect_success 'a loop that fails with "|| return 1" fails the step, and is no lint error' '
	story loop <<-\END &&
	test_expect_success "return 1 in the loop" "
		for i in 1 2; do
			test \$i -eq 1 || return 1
		done
	"
	END
	run_story loop &&
	assert_eq 1 "$story_rc" &&
	assert_file_has loop.out "^not ok 1 - return 1 in the loop" &&
	assert_file_lacks loop.out "broken && chain"
'

test_expect_success 'DITS_TEST_CHAIN_LINT=0 turns the check off' '
	story off <<-\END &&
	test_expect_success "unchained but passing" "
		false
		true
	"
	END
	{ DITS_TEST_CHAIN_LINT=0 TMPDIR=$TRASH bash off.sh >off.out 2>&1; rc=$?; } &&
	assert_eq 0 "$rc" &&
	assert_eq "1 passed, 0 failed" "$(tail -n 1 off.out)"
'

test_done
